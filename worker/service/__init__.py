"""Services: the planner tick, the dispatcher and the executor, wired to the store and the client."""
