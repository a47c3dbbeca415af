"""An "agent squad" SaaS behind FastAPI: users, squads, members, tasks, feedback, usage."""
