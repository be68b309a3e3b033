"""The one error type secnews raises for what a user can fix: a config, a data file, a model
directory, an argument. Its message names the file, the field or row, and the limit. The
command line prints it in one line; any other exception is a bug and keeps its traceback.
A ValueError too, so code written against the earlier ValueErrors keeps working."""


class SecnewsError(ValueError):
    pass
