"""The commands: each finds its sessions, then hands them to the engine (``gate.wait``) under
its ``context.Command``, or ends at once with ``Command.finish_early``.

``wait`` (ids, ``--check-session``), ``run`` (trigger a test session; ``--check-sessions``:
``run_checks``), ``commit`` (``wait --commit``: discovery), ``report`` (re-render a snapshot,
offline) and ``demo`` (``demo`` and ``simulate``). ``start`` is the trigger's retry rule that
``run`` and ``run_checks`` share. ``cli`` parses argv and calls one command's ``main``.
"""
