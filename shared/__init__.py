"""phiguard engine: one package that the Functions triggers, the CLI and the tests all drive."""
