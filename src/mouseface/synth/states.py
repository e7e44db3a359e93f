"""Face actions and the emotion states that combine them: one readable table.

A face is described by a small set of continuous *actions* (``ACTIONS``: name -> neutral value).
An emotion state is a set of action changes at full intensity (``STATES``: state -> {action:
delta}). The face shown for state ``s`` at intensity ``i`` is ``neutral + i * STATES[s]``.

The actions follow the published descriptions of mouse faces: the Mouse Grimace Scale
(orbital tightening, nose bulge, cheek bulge, ear position, whisker change; Langford et al.
2010) and the emotion states of Dolensek et al. (2020) (pleasure: nose down towards the mouth,
ears and jaw forward; malaise: ears down and back, eyes half closed; pain: orbital tightening,
ears back, cheek and nose bulge; fear: ears back, eyes wide, whiskers still or whisking).

References
----------
Langford DJ et al. (2010) Coding of facial expressions of pain in the laboratory mouse. Nature
Methods 7:447-449. doi:10.1038/nmeth.1455
Dolensek N, Gehrlach DA, Klein AS, Gogolla N (2020) Facial expressions of emotion states and
their neuronal correlates in mice. Science 368:89-94. doi:10.1126/science.aaz9468
"""

from __future__ import annotations

from collections.abc import Mapping

#: Face actions and their neutral values. Angles are in degrees.
ACTIONS: dict[str, float] = {
    "ear_angle": 0.0,      # pinna rotation: + forward (towards the eye), - back (towards the neck)
    "ear_flat": 0.0,       # 0 upright and open, 1 flattened / folded (seen edge-on, drooping)
    "eye_open": 1.0,       # 1 normal, 0 closed (orbital tightening), > 1 wide open
    "nose_bulge": 0.0,     # 0 flat nose bridge, 1 bulging bridge and rhinarium
    "nose_down": 0.0,      # snout rotation: + tip down towards the mouth, - tip up
    "nose_forward": 0.0,   # snout extension: + forward, - pulled back (fraction of snout length)
    "whisker_angle": 0.0,  # whisker fan rotation: + forward (protraction), - back (retraction)
    "whisker_pad": 0.0,    # whisker-pad bulge, 0 .. 1
    "whisking": 1.0,       # amplitude of spontaneous whisking (multiplier; 0 = whiskers still)
    "jaw_open": 0.0,       # lower jaw rotated down, 0 .. 1 (1 = gape)
    "jaw_forward": 0.0,    # lower jaw pushed forward, 0 .. 1
    "tongue": 0.0,         # tongue visible between the jaws, 0 .. 1
    "cheek_bulge": 0.0,    # cheek bulge, 0 .. 1
}

#: Emotion states: the change of each action at intensity 1 (actions not named do not change).
STATES: dict[str, dict[str, float]] = {
    "neutral": {},
    "pleasure": {       # nose down towards the mouth, ears and jaw forward
        "nose_down": 20.0, "ear_angle": 36.0, "jaw_forward": 1.0, "whisker_angle": 10.0,
    },
    "disgust": {        # nose and whiskers pulled back, mouth open (gape), eyes narrowed
        "nose_forward": -0.25, "nose_down": -8.0, "whisker_angle": -30.0, "ear_angle": -10.0,
        "eye_open": -0.15, "jaw_open": 1.0, "tongue": 1.0,
    },
    "malaise": {        # ears down (drooping, folded) and back, eyes half closed, head low
        "ear_angle": -30.0, "ear_flat": 0.9, "eye_open": -0.55, "nose_down": 10.0,
        "whisking": -0.6,
    },
    "pain": {           # Mouse Grimace Scale: orbital tightening, ears back, cheek/nose bulge
        "eye_open": -0.85, "ear_angle": -40.0, "ear_flat": 0.15, "cheek_bulge": 1.0,
        "nose_bulge": 1.0, "whisker_pad": 1.0, "whisker_angle": 8.0,
    },
    "passive_fear": {   # freezing face: ears back, eyes wide, whiskers still
        "ear_angle": -40.0, "ear_flat": 0.15, "eye_open": 0.8, "whisking": -1.0,
    },
    "active_fear": {    # ears back and flat, eyes wide, whiskers forward and whisking, nose up
        "ear_angle": -50.0, "ear_flat": 0.85, "eye_open": 0.45, "whisker_angle": 30.0,
        "whisking": 2.0, "nose_down": -14.0, "nose_forward": 0.08,
    },
}


def state_actions(state: str = "neutral", intensity: float = 1.0,
                  extra: Mapping[str, float] | None = None) -> dict[str, float]:
    """Actions of the face showing ``state`` at ``intensity``: ``neutral + intensity * delta``.

    Parameters
    ----------
    state
        A key of ``STATES``.
    intensity
        Expression intensity; 0 gives the neutral face exactly, 1 the full state.
    extra
        Further changes added on top (action -> delta), e.g. spontaneous fluctuations.

    Raises
    ------
    ValueError
        If the state or an action name is unknown.
    """
    if state not in STATES:
        raise ValueError(f"unknown state {state!r}; known states: {sorted(STATES)}")
    actions = dict(ACTIONS)
    for name, delta in STATES[state].items():
        actions[name] += intensity * delta
    if extra:
        unknown = sorted(set(extra) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown face actions {unknown}; known actions: {sorted(ACTIONS)}")
        for name, delta in extra.items():
            actions[name] += delta
    return actions
