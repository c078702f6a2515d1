"""Series: ``faceclust/dashboard/views/series.py``, which checks the login itself."""

from faceclust.dashboard.views.series import main

# Guarded: spawned worker processes re-import the running script (as "__mp_main__").
if __name__ == "__main__":
    main()
