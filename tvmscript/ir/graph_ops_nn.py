"""Graph-level nn operators: registration, attributes and shape/dtype inference."""
