"""Training on Ray: losses, rollout workers, learners and the trainer loop.

Only the modules that run actors import Ray, and only when they are used; ``losses`` is pure torch.
"""
