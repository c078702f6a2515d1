"""Download: ``faceclust/dashboard/views/download.py``, which checks the login itself."""

from faceclust.dashboard.views.download import main

# Guarded: spawned worker processes re-import the running script (as "__mp_main__").
if __name__ == "__main__":
    main()
