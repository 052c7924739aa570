"""Which metric names a policy reads: its plateau's and its early stopping's, nothing else."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lrctl.server.policies import EarlyStopping, Plateau, Policy
from lrctl.server.policies.metrics_read import metrics_read, unused_metrics

names = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)


def test_each_part_reads_its_metric() -> None:
    assert metrics_read(Policy(lr=0.1)) == frozenset()
    assert metrics_read(Policy(lr=0.1, plateau=Plateau("val_loss"))) == {"val_loss"}
    assert metrics_read(Policy(lr=0.1, plateau=Plateau("val_loss"), early_stopping=EarlyStopping("val_acc",
                                                                                                 mode="max"))) \
        == {"val_loss", "val_acc"}
    assert unused_metrics(Policy(lr=0.1, plateau=Plateau("val_loss")), ["val_los", "val_loss", "acc"]) \
        == ("acc", "val_los")


@given(st.one_of(st.none(), names), st.one_of(st.none(), names), st.lists(names, max_size=8))
def test_unused_is_what_is_reported_minus_what_is_read(plateau: str | None, stopping: str | None,
                                                       reported: list[str]) -> None:
    policy = Policy(lr=0.1, plateau=Plateau(plateau) if plateau else None,
                    early_stopping=EarlyStopping(stopping) if stopping else None)
    unused = unused_metrics(policy, reported)
    assert list(unused) == sorted(set(unused)), "sorted, without repeats"
    assert set(unused) == set(reported) - {plateau, stopping}
