"""The WiSE-FT validation sweep's plan of variants."""

from training.wise_sweep import FINETUNED, variants


def test_variants_start_with_the_finetune_and_skip_alpha_one_repeats():
    out = variants([0.5, 1.0, 0.85, 0.5], ["interpolate", "finetuned"])
    assert out == [
        FINETUNED,
        (0.85, "interpolate"),
        (0.85, "finetuned"),
        (0.5, "interpolate"),
        (0.5, "finetuned"),
    ]


def test_variants_measure_recomputed_statistics_alone_at_alpha_one():
    assert variants([0.7], ["recompute"]) == [FINETUNED, (0.7, "recompute"), (1.0, "recompute")]
