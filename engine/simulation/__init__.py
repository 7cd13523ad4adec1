"""Virtual-time runs of a workflow on the real engine: scripts, the simulator, timelines."""
