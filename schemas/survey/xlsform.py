def import_xlsform(*a, **k): raise NotImplementedError
