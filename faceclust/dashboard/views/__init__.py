"""The dashboard's pages, one module each; ``main()`` draws the page (``faceclust.dashboard.VIEWS``)."""
