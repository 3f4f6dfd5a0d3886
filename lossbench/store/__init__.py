"""The stored study and run folders: their file names and atomic writes (:mod:`~lossbench.store.files`),
which files a finished, trained or damaged run holds (:mod:`~lossbench.store.stored`), and reading a
finished study back as a table (:mod:`~lossbench.store.results`)."""
