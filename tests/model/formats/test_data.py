"""
Tests for tests/model/formats/data: each published field list says where it was checked, so
the next reader can compare it again with the same official files.
"""

from __future__ import annotations

import re

import pytest

from tests.model.formats._support import load

COMMIT = re.compile(r"^[0-9a-f]{40}$")


@pytest.mark.parametrize(
    ("name", "repo", "version"),
    [("ecs_8.11.json", "elastic/ecs", "8.11"), ("ocsf_1.3.0.json", "ocsf/ocsf-schema", "1.3.0")],
)
def test_field_list_records_its_provenance(name: str, repo: str, version: str) -> None:
    """source names the repo and every file read; provenance gives repo, version, full commits."""
    data = load(name)
    provenance = data["provenance"]
    assert (provenance["repo"], provenance["version"]) == (repo, version)
    assert repo in data["source"]
    assert provenance["files"], name
    for path, commits in provenance["files"].items():
        assert path in data["source"], path
        assert commits, path
        for commit in commits:
            assert COMMIT.match(commit), (path, commit)
            assert commit[:7] in data["source"], (path, commit)
    assert isinstance(provenance["corrections"], list)
