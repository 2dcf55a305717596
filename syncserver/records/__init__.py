"""What was received and what data managers do with it: review, quarantine and
conflicts (``review``), sensitive answers at rest (``sensitive``), attachments kept
in their bundles (``attachments``), quarantine hints (``quarantine_hints``)."""
