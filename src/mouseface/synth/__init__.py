"""Synthetic mouse faces, experiments and neurons with known answers (demo and ground truth).

CONTRACT (implemented by the synth helper):

    from mouseface.synth import render_face, simulate_experiment, STATES, Experiment
    STATES: the readable table state -> face actions (neutral, pleasure, disgust, malaise, pain,
            passive_fear, active_fear)
    render_face(state="neutral", intensity=1.0, *, size=(256, 256), animal=None, rng=None, ...)
        -> (H, W) uint8 grayscale side-view face
    simulate_experiment(out, n_animals=4, conditions=("pleasure", "disgust", "malaise", "pain",
                        "passive_fear"), n_trials=6, fps=20.0, seed=0, size=(160, 160), ...)
        -> Experiment(sessions_path, events_path, truth_path, sessions, events, truth)
        sessions/events tables follow the README (session, video, animal, roi, fps / session,
        onset, duration, trial_type, intensity); truth has one row per frame:
        session, animal, frame, time, state, intensity.
        needs={"pleasure": {"thirsty": 1.0, "sated": 0.5}}: one stimulus at two needs;
        fear=True: a fear session per animal (body on a running wheel, roi_body/roi_wheel),
        spontaneous freezing and escape bouts and confounds in Experiment.bouts
        (mouseface.synth.behaviour).
"""

from mouseface.synth.animals import Animal, make_animal
from mouseface.synth.experiment import Experiment, response, simulate_experiment
from mouseface.synth.face import FaceRenderer, Paw, Pose, render_face
from mouseface.synth.figure import state_figure
from mouseface.synth.states import ACTIONS, STATES, state_actions

__all__ = ["ACTIONS", "STATES", "Animal", "Experiment", "FaceRenderer", "Paw", "Pose",
           "make_animal", "render_face", "response", "simulate_experiment", "state_actions",
           "state_figure"]
