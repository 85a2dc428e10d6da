"""The open-set check's protocol: who is enrolled, who is a stranger, and the verification pairs."""

from pathlib import Path

from PIL import Image

from bench.openset import draw, identities


def tree(root: Path, counts: dict[str, int]) -> Path:
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("L", (8, 8), i).save(root / name / f"{i}.png")
    return root


def test_identities_keep_classes_with_enough_images_under_their_root_name(tmp_path):
    root = tree(tmp_path / "set", {"a": 6, "b": 6, "c": 2})
    assert sorted(identities([root], min_images=6)) == ["set/a", "set/b"]


def test_draw_enrolls_half_and_makes_strangers_of_the_rest(tmp_path):
    root = tree(tmp_path / "set", {name: 7 for name in "abcdef"})
    protocol = draw(identities([root], min_images=6), k=5, pairs=10, seed=0)
    assert len(protocol.enroll) == 3 and all(len(files) == 5 for files in protocol.enroll.values())
    assert len(protocol.mated) == 3 * 2 and len(protocol.strangers) == 3 * 7
    enrolled = {f for files in protocol.enroll.values() for f in files}
    assert enrolled.isdisjoint(p for _, p in protocol.mated) and enrolled.isdisjoint(protocol.strangers)
    assert [same for _, _, same in protocol.pairs] == [True, False] * 5
    assert all((a.parent == b.parent) == same for a, b, same in protocol.pairs)


def test_draw_makes_strangers_of_every_image_of_the_stranger_classes(tmp_path):
    root = tree(tmp_path / "set", {name: 7 for name in "abcd"})
    unseen = tree(tmp_path / "unseen", {"x": 3, "y": 1})
    outsiders = identities([unseen], min_images=1)
    protocol = draw(
        identities([root], min_images=6), k=5, pairs=4, seed=0, strangers_share=0, stranger_classes=outsiders
    )
    assert sorted(protocol.enroll) == ["set/a", "set/b", "set/c", "set/d"]  # every known class enrolled
    assert sorted(protocol.strangers) == sorted(f for files in outsiders.values() for f in files)
    assert len(protocol.strangers) == 4 and all(p.parent.parent == unseen for p in protocol.strangers)
    assert all(a.parent.parent == root and b.parent.parent == root for a, b, _ in protocol.pairs)
