"""The audit log: its entries and their writer (``entries``), the running log and
its checks before serving (``log``, ``tlog``), and the independent verifier
(``verify``, ``access_check``), which shares no code with the writer."""
