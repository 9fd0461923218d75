"""
Build the optional compiled accelerators: ``audit_logging._speedups``, the caller's path
(issue 19), and ``audit_logging._sealing``, integrity's hashing with OpenSSL (issue 16).

Every other setting is in pyproject.toml. Both extensions are optional: where no C compiler
(or no Python or OpenSSL headers) is found the build says so and the package installs on
its pure-Python path, which is the reference the accelerators must match.
``AUDIT_LOGGING_REQUIRE_SPEEDUPS=1`` makes a failed build an error instead (for wheels).
"""

import os

from setuptools import Extension, setup

OPTIONAL = os.environ.get("AUDIT_LOGGING_REQUIRE_SPEEDUPS") != "1"

setup(
    ext_modules=[
        Extension(
            "audit_logging._speedups",
            [
                "audit_logging/_speedups.c",
                "audit_logging/_speedups_payload.c",
                "audit_logging/_speedups_ids.c",
            ],
            depends=["audit_logging/_speedups.h"],
            optional=OPTIONAL,
        ),
        Extension(
            "audit_logging._sealing",
            ["audit_logging/_sealing.c", "audit_logging/_sealing_rows.c"],
            depends=["audit_logging/_sealing.h"],
            libraries=["crypto"],
            optional=OPTIONAL,
        ),
    ]
)
