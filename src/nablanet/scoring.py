"""Scoring sequence data of any size: streamed in bounded memory, and on Dask.

A *scorer* is any callable ``score(data) -> columns`` that takes a
:class:`~nablanet.datasets.sequences.SequenceData` of whole sequences and returns the
output table as ``{column name: 1-D array}``, rows in data order, with a ``name``
column (one row per sequence or per step, as the model's ``target``). ``nablanet rnn
predict`` builds one from a model file; any row-wise function of a model fits.

* :func:`score_file` reads a CSV file in chunks of whole sequences (a Parquet file whole)
  (:func:`~nablanet.datasets.sequences.read_sequence_chunks`), scores each chunk and
  yields its CSV text: memory holds one chunk, whatever the file's size.
* :func:`score_files` writes the predictions of several files, in order, to one CSV
  file (written to a temporary name, renamed at the end) or to standard output; with
  ``workers`` or ``scheduler``, one Dask task per file, the scorer sent once to each
  worker, the text written in input order.
* :func:`score_frame` scores a long-format Dask DataFrame (``name, t, x1..xF``)
  partition by partition, regrouping a sequence split across two partitions.

**Bit for bit.** BLAS picks its kernels by matrix size, so the same sequence scored in
batches of different sizes can differ in the last bit. The scorer is therefore called
on groups of exactly :data:`GROUP` sequences (the last group of a chunk filled with
copies of its last sequence, whose rows are dropped): a sequence's prediction does not
depend on which chunk, file or worker it came in, and the streamed output equals the
output of the whole data scored at once through :func:`score_exactly`, bit for bit
(for sequences short enough that a group fits one evaluation chunk of the model, see
:data:`nablanet.models.sequential.EVAL_BYTES`).

Dask is an optional dependency (``pip install 'nablanet[dask]'``), imported when a
function needs it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from nablanet.atomic import atomic_output
from nablanet.datasets.sequences import (
    SequenceData,
    read_sequence_chunks,
    read_sequence_file,
    read_sequence_frame,
)
from nablanet.models.scorer import write_rows

__all__ = ["GROUP", "Scorer", "score_exactly", "score_file", "score_files", "score_frame"]

log = logging.getLogger(__name__)

#: ``score(data) -> {column: 1-D array}``: the output rows of whole sequences
Scorer = Callable[[SequenceData], dict[str, np.ndarray]]

#: sequences per call of the scorer (see "Bit for bit" above)
GROUP = 64

#: times the scorer is sent to the cluster (again after a worker that held it is lost)
MAX_SENDINGS = 3

_PAD_NAME = ""  # the name of the filler sequences: never a real one (names are non-empty)


def score_exactly(score: Scorer, data: SequenceData) -> dict[str, np.ndarray]:
    """``score(data)``, computed on groups of exactly :data:`GROUP` sequences so that
    each sequence's rows do not depend on the others in ``data`` (see the module's "Bit
    for bit").

    Parameters
    ----------
    score : Scorer
        Returns a ``name`` column among its columns, one or more rows per sequence.
    data : SequenceData
        Whole sequences (at least one).

    Returns
    -------
    dict of str to numpy.ndarray
        The columns of ``score``, rows of every group one after the other.
    """
    parts = []
    for start in range(0, len(data), GROUP):
        end = min(start + GROUP, len(data))
        fill = GROUP - (end - start)  # copies of the last sequence, renamed
        group = data.subset([*range(start, end), *[end - 1] * fill])
        group.names[end - start:] = [_PAD_NAME] * fill
        columns = score(group)
        if fill:
            real = np.asarray(columns["name"], dtype=object) != _PAD_NAME
            columns = {k: np.asarray(v)[real] for k, v in columns.items()}
        parts.append(columns)
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def score_file(path: str | os.PathLike[str], score: Scorer) -> Iterator[str]:
    """Score the sequence CSV file ``path`` chunk by chunk; yield the CSV text.

    Parameters
    ----------
    path : str or path-like
        A sequence CSV file whose sequences' rows are contiguous (see
        :func:`~nablanet.datasets.sequences.read_sequence_chunks`).
    score : Scorer
        The scorer, called through :func:`score_exactly`.

    Yields
    ------
    str
        The header line, then the rows of each chunk (LF line endings, floats in their
        shortest round-trip form).

    Raises
    ------
    ValueError
        As :func:`~nablanet.datasets.sequences.read_sequence_chunks`, or ``score``.
    """
    chunks = [read_sequence_file(path)] if Path(path).suffix.lower() == ".parquet" \
        else read_sequence_chunks(path)
    for k, chunk in enumerate(chunks):
        columns = score_exactly(score, chunk)
        if k == 0:
            yield _csv_text({name: values[:0] for name, values in columns.items()}, header=True)
        yield _csv_text(columns)


def score_files(paths: Sequence[str | os.PathLike[str]], score: Scorer,
                output: str | os.PathLike[str] | None = None, *, workers: int | None = None,
                scheduler: str | None = None) -> int:
    """Score sequence CSV files, in bounded memory, alone or on a Dask cluster.

    Parameters
    ----------
    paths : sequence of str or path-like
        The files, scored and written in this order (at least one).
    score : Scorer
        Picklable when run on Dask (sent once to each worker).
    output : str or path-like, optional
        The CSV file to write, through a temporary file renamed at the end (so it is
        written whole or not at all); default: standard output.
    workers : int, optional
        Score on a local Dask cluster of this many single-threaded worker processes.
    scheduler : str, optional
        Score on the running Dask cluster of this scheduler (``tcp://host:port``); the
        workers must read ``paths`` (absolute paths are sent).

    Returns
    -------
    int
        The rows written (predictions, without the header).

    Raises
    ------
    ValueError
        As :func:`score_file`, naming the file and line, or if the files' headers differ.
    ImportError
        For ``workers`` or ``scheduler`` without Dask's ``distributed``.

    Notes
    -----
    On Dask, each file is one task returning its CSV text, so a worker holds one file's
    predictions (not its data) at a time; the driver writes the texts in input order
    and lets each go once written. A worker lost mid-task costs that task: the
    scheduler runs it again elsewhere. The output is the one of a single process, bit
    for bit (see the module's "Bit for bit").
    """
    files = [Path(p).resolve() for p in paths]
    if workers is not None or scheduler is not None:
        texts = _on_dask(files, score, workers, scheduler)
    else:
        texts = ((path, score_file(path, score)) for path in files)
    with _opened(output) as out:
        return _write_in_order(texts, out)


def _write_in_order(texts: Iterator[tuple[Path, Iterator[str]]], out: TextIO) -> int:
    """Write each file's texts (header first) to ``out``: the first file's header, the
    others' checked equal to it; return the rows written."""
    header, rows = None, 0
    for path, pieces in texts:
        first = next(pieces)
        if header is None:
            header = first
            out.write(header)
        elif first != header:
            raise ValueError(f"{path}: its predictions have the columns {first.strip()}, "
                             f"the first file's {header.strip()}")
        for text in pieces:
            out.write(text)
            rows += text.count("\n")
    return rows


@contextlib.contextmanager
def _opened(output) -> Iterator[TextIO]:
    """A text file to write: a temporary file renamed onto ``output`` at the end, or
    standard output."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    with atomic_output(output) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        yield f


def _csv_text(columns: dict[str, np.ndarray], header: bool = False) -> str:
    text = io.StringIO()
    write_rows(columns, text, header=header)
    return text.getvalue()


# --------------------------------------------------------------------------------------
# Dask
# --------------------------------------------------------------------------------------
def _distributed():
    try:
        import distributed
    except ImportError:
        raise ImportError("scoring on Dask needs Dask's distributed scheduler: pip install "
                          "'nablanet[dask]'") from None
    return distributed


def _file_task(path: Path, score: Scorer) -> list[str]:
    """A Dask task: the CSV texts of one file (header first)."""
    return list(score_file(path, score))


def _on_dask(paths: list[Path], score: Scorer, workers: int | None,
             scheduler: str | None) -> Iterator[tuple[Path, Iterator[str]]]:
    """Submit one task per file; yield ``(path, texts)`` in input order as each is done."""
    distributed = _distributed()
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(distributed.Client(scheduler, timeout="30s"))
        else:
            cluster = stack.enter_context(distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None))
            client = stack.enter_context(distributed.Client(cluster))
        log.info("scoring %d file(s) on Dask (%s)", len(paths), client.scheduler.address)

        def submit(first: int, sending: int) -> None:
            """Send the scorer once to each worker; submit the files from ``first`` on
            that are not done (futures[k] is None or not finished)."""
            [scorer] = client.scatter([score], broadcast=True)
            for k in range(first, len(paths)):
                if futures[k] is None or futures[k].status != "finished":
                    futures[k] = client.submit(_file_task, paths[k], scorer,
                                               key=f"score-{k}-{sending}-{paths[k].name}")

        futures: list = [None] * len(paths)
        submit(0, 0)
        for k, path in enumerate(paths):
            for sending in range(1, MAX_SENDINGS + 1):
                try:
                    texts = futures[k].result()
                    break
                except distributed.client.FutureCancelledError:
                    # the scheduler may keep one replica of the scorer (its memory
                    # manager): lost with its worker, it is sent again and the files
                    # not done yet are resubmitted
                    if sending == MAX_SENDINGS:
                        raise
                    log.warning("the scorer was lost with a worker: sending it again")
                    submit(k, sending)
            futures[k].release()
            futures[k] = None
            yield path, iter(texts)


def score_frame(frame, score: Scorer):
    """Score a long-format Dask DataFrame (``name, t, x1..xF``, one row per step), one
    task per partition; return a Dask DataFrame of the predictions (lazy).

    Parameters
    ----------
    frame : dask.dataframe.DataFrame
        The columns of :func:`~nablanet.datasets.sequences.read_sequence_frame`; the rows
        of a sequence contiguous. A sequence may continue from one partition into the
        next: its rows there are moved to the partition it started in.
    score : Scorer
        The scorer (called through :func:`score_exactly`); sent to the workers once.

    Returns
    -------
    dask.dataframe.DataFrame
        The columns of ``score``, one partition per partition of ``frame``, rows in
        ``frame``'s order.

    Raises
    ------
    ImportError
        Without ``dask.dataframe``.
    ValueError
        When computed: as :func:`~nablanet.datasets.sequences.read_sequence_frame`
        (naming the partition), or if a sequence spans more than two partitions
        (repartition the frame into fewer, larger partitions).
    """
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise ImportError("scoring a Dask DataFrame needs dask[dataframe]: pip install "
                          "'nablanet[dask]'") from None
    parts = frame.to_delayed()
    scorer = dask.delayed(score, pure=True)
    last = [dask.delayed(_last_name)(part) for part in parts]
    scored = [dask.delayed(_score_partition)(
        k, part, last[k - 1] if k else None,
        parts[k + 1] if k + 1 < len(parts) else None, scorer) for k, part in enumerate(parts)]
    return dd.from_delayed(scored, verify_meta=False)


def _last_name(part) -> str | None:
    """The name of the last row of a partition (None when it is empty)."""
    return str(part["name"].iloc[-1]).strip() if len(part) else None


def _score_partition(k: int, part, previous: str | None, following, score):
    """Score partition ``k``: without its leading rows that continue ``previous`` (the
    name of the last sequence of partition ``k - 1``), with the leading rows of the next
    partition that continue its own last sequence."""
    import pandas as pd

    whole = part
    name = part["name"].astype(str).str.strip()
    if previous is not None and len(part):
        continued = int((name == previous).cummin().sum())
        if continued == len(part) and following is not None and len(following):
            raise ValueError(f"partition {k}: sequence {previous!r} spans more than two "
                             f"partitions; repartition into fewer, larger partitions")
        part, name = part.iloc[continued:], name.iloc[continued:]
    if len(part) and following is not None and len(following):
        after = following["name"].astype(str).str.strip()
        n = int((after == name.iloc[-1]).cummin().sum())
        if n == len(following):
            raise ValueError(f"partition {k + 1}: sequence {name.iloc[-1]!r} spans more than "
                             f"two partitions; repartition into fewer, larger partitions")
        part = pd.concat([part, following.iloc[:n]])
    if not len(part):  # all moved to partition k - 1: no rows, the same columns
        if not len(whole):
            return pd.DataFrame({})
        one = read_sequence_frame(whole, source=f"partition {k}").subset([0])
        return pd.DataFrame(score_exactly(score, one)).iloc[:0]
    data = read_sequence_frame(part, source=f"partition {k}")
    return pd.DataFrame(score_exactly(score, data))
