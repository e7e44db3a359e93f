"""``mouseface demo`` as a new user meets it (a small one: 2 animals, 2 trials per condition,
the ``small_demo`` fixture): it prints its findings and no warning about its own data, and its
NWB files pass DANDI's inspection with no critical issue (the simulated subjects carry sex, age
and species)."""

from __future__ import annotations

import json
import warnings

import pytest

from mouseface.io.layout import ResultsLayout
from mouseface.report.findings import findings, findings_lines

# the demo: about a minute on an idle 2-core machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


def test_the_demo_says_what_it_found_and_no_warning(small_demo):
    # it warned about its own design (a body camera in the fear sessions only; the face's
    # motion energy undefined at each session's first frame): nothing a user can act on
    assert [str(w.message) for w in small_demo.warnings] == []
    assert "warning" not in small_demo.output.lower()
    results = ResultsLayout(small_demo.results)
    assert json.loads(results.run_json.read_text())["warnings"] == []
    f = findings(results.root)
    assert f["trials"]["n_scored"] > 0 and f["bouts"] and f["comparisons"] and f["neurons"]
    assert f["truth"]["bouts"] and f["truth"]["neurons"]
    # the terminal's findings are the folder's (mouseface summary prints the same)
    assert "\n".join(findings_lines(f)) in small_demo.output
    html = results.report.read_text()
    assert html.index('id="findings"') < html.index('id="summary"')


def test_the_demos_nwb_passes_dandi_inspection(small_demo):
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import export_nwb

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no metadata missing: no warning
        paths = export_nwb(small_demo.results, small_demo.out / "nwb",
                           sessions=["m01_fear", "m02_disgust"])
    for path in paths:
        messages = list(inspect_nwbfile(nwbfile_path=path, config=load_config("dandi")))
        critical = [m for m in messages if m.importance == Importance.CRITICAL]
        assert critical == [], critical
    with NWBHDF5IO(str(paths[1]), "r") as io:
        subject = io.read().subject
        assert (subject.sex, subject.age, subject.species) == ("M", "P91D", "Mus musculus")


def test_the_demo_measures_action_units_in_every_state(small_demo):
    """The demo runs with the keypoints its renderer drew: the report has the Action units
    section for all six states, and the changes go the known way (synth.states)."""
    import pandas as pd

    results = ResultsLayout(small_demo.results)
    trials = pd.read_csv(results.trials)
    mean = trials.groupby("trial_type")[[c for c in trials.columns
                                         if c.startswith("au_")]].mean()
    assert sorted(mean.index) == ["active_fear", "disgust", "malaise", "pain",
                                  "passive_fear", "pleasure"]
    assert mean.notna().all().all()
    # pain narrows the eye (orbital tightening), flattens the ears back, bulges the nose
    assert mean.at["pain", "au_eye_opening"] < -0.2
    assert mean.at["pain", "au_ear_angle"] < -10
    assert mean.at["pain", "au_nose_bulge"] > 1.0
    # disgust opens the mouth; freezing widens the eye; pleasure turns the ears forward
    assert mean.at["disgust", "au_mouth_opening"] > 2.0
    assert mean.at["passive_fear", "au_eye_opening"] > 0.1
    assert mean.at["pleasure", "au_ear_angle"] > 5
    check = json.loads(results.simulation_check.read_text())["action_units"]
    assert check["clear"] >= 20 and check["in_direction"] == check["clear"]
    assert (f"action units: {check['in_direction']} of the {check['clear']} clear known "
            "changes found in their direction") in small_demo.output
    html = results.report.read_text()
    # the report's findings say the same (a key named like a dict method, "clear", once
    # printed Python's built-in method there)
    assert (f"action units: {check['in_direction']} of the {check['clear']} clear known "
            "changes found in their direction") in html
    section = html.split('<section id="action-units">')[1].split("</section>")[0]
    header = section.split("<tr>")[1]
    for state in mean.index:
        assert f"<th>{state}</th>" in header
    assert results.stored_poses() == results.stored_sessions()
