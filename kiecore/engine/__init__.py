"""The engine: every in-flight task of a client on one scheduler (:mod:`~kiecore.engine.scheduler`).

One module per concern: :mod:`~kiecore.engine.calls` (single requests), :mod:`~kiecore.engine.steps` (what each
answer means, and the task's record), :mod:`~kiecore.engine.jobs` (a task being handled),
:mod:`~kiecore.engine.budgets` (the service's rate limits, exactly, shared across processes),
:mod:`~kiecore.engine.runtimes` (each model's learned run time) and :mod:`~kiecore.engine.plan` (when to ask).
"""
