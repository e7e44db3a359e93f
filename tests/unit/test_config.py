import pytest

from mouseface._errors import InputError
from mouseface.settings import load_settings


def test_defaults_are_the_papers():
    s = load_settings()
    assert s.hog.orientations == 8 and s.hog.pixels_per_cell == (32, 32)
    assert s.hog.cells_per_block == (1, 1) and s.hog.transform_sqrt and s.hog.block_norm == "L2-Hys"
    assert s.prototypes.n_frames == 10


def test_toml_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[hog]\npixels_per_cell = 8\n[prototypes]\nbaseline = 1.5\n")
    s = load_settings(f)
    assert s.hog.pixels_per_cell == (8, 8) and s.prototypes.baseline == 1.5


@pytest.mark.parametrize("text, match", [
    ("[hog]\norientation = 8\n", r"hog\.orientation: unknown key"),
    ("[hog]\norientations = -2\n", r"hog\.orientations: .*greater than 0"),
    ("[prototypes]\nn_frames = 'ten'\n", r"prototypes\.n_frames"),
    ("[hog]\nblock_norm = 'L3'\n", r"hog\.block_norm"),
    ("[hog\n", "not valid TOML"),
])
def test_bad_config_names_the_key(tmp_path, text, match):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        load_settings(f)
    assert str(f) in str(info.value) and "\n" not in str(info.value)


def test_registration_masks_and_mode_settings(tmp_path):
    s = load_settings()
    assert s.registration.resolved("animal") == "none"
    assert s.registration.resolved("all") == "translation" and s.prototypes.mode == "transfer"
    p = tmp_path / "c.toml"
    p.write_text('[registration]\nalign = "similarity"\n[masks]\nregions = "1,2,3,4"\n')
    s = load_settings(p)
    assert s.registration.resolved("animal") == "similarity" and s.masks.regions == "1,2,3,4"
    p.write_text('[registration]\nalign = "affine"\n')
    with pytest.raises(InputError, match="registration.align"):
        load_settings(p)
    p.write_text('[masks]\nregions = "1,2,3"\n')
    with pytest.raises(InputError, match="masks.regions"):
        load_settings(p)
