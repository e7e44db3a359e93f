"""The LSL outlets, received by a real inlet on this machine (machine scope, loopback only)."""

from __future__ import annotations

import threading
import uuid

import pytest


def test_lsl_config_reports_the_machine_scope(lsl_machine_scope):
    from mouseface.live.lsl import lsl_config

    c = lsl_config()
    assert c.path == lsl_machine_scope.resolve()
    assert (c.resolve_scope, c.known_peers) == ("machine", ("127.0.0.1",))
    assert "ResolveScope machine, KnownPeers {127.0.0.1}" in c.describe()


def test_lsl_config_reads_the_multicast_section_where_liblsl_does(tmp_path, monkeypatch):
    from mouseface.live.lsl import lsl_config

    cfg = tmp_path / "lsl_api.cfg"
    # liblsl reads ResolveScope from [multicast] only: under [ports] it is ignored (site scope)
    cfg.write_text("[ports]\nResolveScope = machine\n")
    monkeypatch.setenv("LSLAPICFG", str(cfg))
    assert lsl_config().resolve_scope == "site"


def _inlet(pylsl, prop, value):
    found = pylsl.resolve_byprop(prop, value, timeout=5.0)
    assert len(found) == 1, f"stream {value} not found on this machine"
    inlet = pylsl.StreamInlet(found[0], max_buflen=10)
    inlet.open_stream(timeout=5.0)
    return inlet


def test_samples_and_markers_reach_a_real_inlet(lsl_machine_scope):
    import pylsl

    from mouseface.live.lsl import Outlets

    name = f"mf-unit-{uuid.uuid4().hex[:8]}"
    out = Outlets(name, ["neutral", "pain"], grades=["pain"], fps=20.0,
                  meta={"mode": "transfer"})
    try:
        inlet = _inlet(pylsl, "name", name)
        markers = _inlet(pylsl, "name", f"{name}-markers")
        info = inlet.info(timeout=5.0)
        ch = info.desc().child("channels").child("channel")
        labels = []
        while not ch.empty():
            labels.append(ch.child_value("label"))
            ch = ch.next_sibling()
        assert labels == ["neutral", "pain", "grade_pain", "flag", "skipped", "frame"]
        assert info.desc().child("mouseface").child_value("mode") == "transfer"
        assert info.type() == "Expression" and info.nominal_srate() == 20.0
        t0 = pylsl.local_clock()
        for i in range(5):
            out.push([0.1 * i, -0.2 * i], i == 3, i % 2, 100 + i, t0 + i / 20, [1.5 * i])
        out.marker("trigger:pain", t0 + 0.15)
        got, stamps = [], []
        while len(got) < 5:
            chunk, ts = inlet.pull_chunk(timeout=2.0)
            assert chunk, "samples did not arrive"
            got += chunk
            stamps += ts
        m, mt = markers.pull_sample(timeout=5.0)
    finally:
        out.close(linger=0.0)
    assert [row[5] for row in got] == [100, 101, 102, 103, 104]  # every sample, in order
    assert [row[3] for row in got] == [0, 0, 0, 1, 0]
    assert [row[4] for row in got] == [0, 1, 0, 1, 0]
    assert [row[1] for row in got] == pytest.approx([-0.2 * i for i in range(5)])
    assert [row[2] for row in got] == pytest.approx([1.5 * i for i in range(5)])
    assert stamps == pytest.approx([t0 + i / 20 for i in range(5)], abs=1e-9)
    assert (m, mt) == (["trigger:pain"], pytest.approx(t0 + 0.15, abs=1e-9))


def test_a_normal_end_is_quiet(lsl_machine_scope, capfd):
    """The session says ``end`` and waits for the inlets to close before its outlets go, so
    the consumer's liblsl never logs "Stream transmission broke off ... re-connecting"."""
    import pylsl
    from tests.fixtures.live import read_to_end

    from mouseface.live.lsl import Outlets

    name = f"mf-unit-{uuid.uuid4().hex[:8]}"
    out = Outlets(name, ["neutral", "pain"], fps=20.0)
    inlet = _inlet(pylsl, "name", name)
    markers = _inlet(pylsl, "name", f"{name}-markers")
    t0 = pylsl.local_clock()
    for i in range(5):
        out.push([0.1 * i, -0.2 * i], False, 0, i, t0 + i / 20)
    quiet = []
    closer = threading.Thread(target=lambda: quiet.append(out.close(end=t0 + 4 / 20,
                                                                     linger=60.0)))
    closer.start()
    rows, stamps, marks = read_to_end(inlet, markers)
    closer.join(60)
    assert quiet == [True]  # every inlet had closed when the outlets went
    assert [r[4] for r in rows] == [0, 1, 2, 3, 4]
    assert marks == [("end", pytest.approx(t0 + 4 / 20, abs=1e-9))]
    del inlet, markers
    assert "broke off" not in capfd.readouterr().err
