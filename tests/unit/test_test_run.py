"""`inv test`: the stages that need no stack run beside the stack's, and a
failed stage is reported whichever side it ran on."""

from invoke import Config, Context

from parity.app.checks import test_run


def test_the_no_stack_stages_run_beside_the_stacks_and_failures_are_kept(tmp_path, monkeypatch, capsys):
    flag = tmp_path / "rehearse-ran"
    # the stack's stage waits (up to 20 s) for a file only a no-stack stage writes: it can only
    # pass if that stage runs while it does
    wait = f"for i in $(seq 200); do [ -e {flag} ] && exit 0; sleep 0.1; done; exit 1"
    monkeypatch.setattr(test_run, "stages", lambda unit_only: [
        ("unit", ".", "true"),
        ("infra-scan", ".", "echo scanned"),
        ("rehearse", ".", f"touch {flag}; echo rehearsed; exit 3"),
        ("crawler", ".", "true"),
        ("website-agent", ".", "true"),
        ("integration", ".", wait),
        ("e2e", ".", "true"),
    ])  # fmt: skip
    failed = test_run.run_all(Context(Config(overrides={"run": {"in_stream": False}})), tmp_path, keep_stack=True)
    assert failed == ["rehearse"]
    out = capsys.readouterr().out
    assert "scanned" in out and "rehearsed" in out  # their logs are shown
    assert (tmp_path / ".parity" / "test-logs" / "rehearse.log").read_text() == "rehearsed\n"
    assert "stages: 6 passed, 1 failed" in out
