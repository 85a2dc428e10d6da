"""HTTP routes, one module per resource; each route parses, makes one service call and returns its model."""
