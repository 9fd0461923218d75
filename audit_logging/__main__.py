"""
``python -m audit_logging``: the same as the ``audit-logging`` command.
"""

from audit_logging._cli.main import main

raise SystemExit(main())
