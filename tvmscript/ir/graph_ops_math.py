"""Graph-level math operators: registration, attributes and shape/dtype inference."""
