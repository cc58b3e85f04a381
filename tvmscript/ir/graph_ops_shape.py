"""Graph-level shape operators: registration, attributes and shape/dtype inference."""
