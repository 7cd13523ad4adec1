"""The timer worker: APScheduler wakes it, the engine fires the due timers.

The pure time rules live in :mod:`engine.timing`, the simulator in
:mod:`engine.simulation`. Import the worker from :mod:`engine.scheduling.worker`
so that importing this package stays cheap.
"""
