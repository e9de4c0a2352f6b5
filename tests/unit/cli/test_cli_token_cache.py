import json
import os
import stat

from cli.token_cache import EXPIRY_MARGIN, CachedToken, TokenCache, cache_dir

NOW = 1_700_000_000.0


def cache(tmp_path, *, cloud="lab", username="alice", project="demo", now=NOW):
    return TokenCache(cache_dir({"HOME": str(tmp_path)}), cloud=cloud, url="h:1",
                      username=username, project=project, clock=lambda: now)


def test_stored_token_file_is_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        cache(tmp_path).store(CachedToken("tok", NOW + 3600, "u1", "p1"))
    finally:
        os.umask(old)
    path = cache(tmp_path).path
    assert path.parent == tmp_path / ".cache" / "stratus" / "tokens"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["token"] == "tok"
    assert [p.name for p in path.parent.iterdir()] == [path.name]   # no temporary left


def test_reused_until_shortly_before_expiry(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600, "u1", "p1"))
    assert cache(tmp_path).load() == CachedToken("tok", NOW + 3600, "u1", "p1")
    assert cache(tmp_path, now=NOW + 3600 - EXPIRY_MARGIN - 1).load().token == "tok"
    assert cache(tmp_path, now=NOW + 3600 - EXPIRY_MARGIN).load() is None
    assert cache(tmp_path, now=NOW + 7200).load() is None


def test_one_cache_per_cloud_and_identity(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600))
    assert cache(tmp_path, cloud="other").load() is None
    assert cache(tmp_path, project="admin").load() is None
    assert cache(tmp_path, username="bob").load() is None
    assert cache(tmp_path, cloud="../../etc").path.parent == cache(tmp_path).path.parent


def test_a_readable_by_others_file_is_not_trusted(tmp_path):
    cache(tmp_path).store(CachedToken("tok", NOW + 3600))
    os.chmod(cache(tmp_path).path, 0o644)
    assert cache(tmp_path).load() is None


def test_a_corrupt_file_is_a_miss(tmp_path):
    entry = cache(tmp_path)
    entry.store(CachedToken("tok", NOW + 3600))
    entry.path.write_text("{not json")
    assert entry.load() is None


def test_drop(tmp_path):
    entry = cache(tmp_path)
    entry.store(CachedToken("tok", NOW + 3600))
    entry.drop()
    assert not entry.path.exists() and entry.load() is None
    entry.drop()   # dropping twice is fine
