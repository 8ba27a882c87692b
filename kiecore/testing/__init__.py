"""A test kit for plugin authors: pytest fixtures (through the ``pytest11`` entry point), hypothesis
strategies (:mod:`kiecore.testing.strategies`) and a conformance suite to subclass
(:mod:`kiecore.testing.conformance`). Install with ``pip install kiecore[testing]``."""
