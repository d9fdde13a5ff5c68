"""User-facing errors.

Every problem a user can cause (a missing path, a bad area, an unknown class, ...) is raised as a
``VideoAttrError`` whose message is ONE sentence that names the problem and says how to fix it.
``run.py`` prints that sentence as the last line of stderr and exits with status 2.
"""


class VideoAttrError(Exception):
    """A problem with the user's input; ``str(err)`` is one sentence: the problem and the fix."""
