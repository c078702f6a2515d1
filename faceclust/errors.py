"""Errors that the command line and the dashboard show to the user as one line."""


class BadInput(ValueError):
    """The user's input (clip, parameter, labels file, model name) cannot be used.

    The message is a complete sentence meant for the user; the command line prints it and exits
    with status 2.
    """
