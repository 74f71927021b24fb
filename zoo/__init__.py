"""Our implementations of every backbone and head, checkpoint-exact and function-exact."""
