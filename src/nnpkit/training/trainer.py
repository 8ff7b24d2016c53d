"""``fit(config)``: train a potential and write a run directory.

The run directory holds ``config.yaml`` (resolved), ``model.nnp`` (best EMA weights),
``checkpoint.pt`` (last state, for ``--resume``), ``metrics.csv`` (per epoch),
``metrics.json`` (final test metrics, the stop reason and the data the best epoch was
chosen on), ``parity.png`` and ``learning_curve.png``. Every run ends with a one-line
summary on stderr: epochs, why it stopped, the best epoch's validation error.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import yaml
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from nnpkit.data.graph import AtomicGraph, collate
from nnpkit.derivatives import compute_properties
from nnpkit.errors import ConfigError, TrainingError
from nnpkit.file_writes import atomic_write, remove_stale_temporaries
from nnpkit.models.bpnn import BehlerParrinello
from nnpkit.models.model_file import save_model
from nnpkit.models.potential import Potential
from nnpkit.models.registry import build_model
from nnpkit.training.checkpoint import (
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    training_state,
    write_history,
)
from nnpkit.training.config import RunConfig, check_response_model
from nnpkit.training.dataset import (
    N_SELECT_ON_TRAIN,
    PreparedData,
    check_response_labels,
    model_selection,
    prepare_data,
)
from nnpkit.training.distributed import DistributedContext
from nnpkit.training.loss import label_counts, weighted_loss
from nnpkit.training.plots import plot_learning_curve, plot_parity
from nnpkit.training.precomputed import (
    DescriptorTerms,
    collate_terms,
    predict_from_descriptor,
    terms_for_training,
)
from nnpkit.training.prediction import evaluate
from nnpkit.training.schedule import budget_fraction, learning_rate_schedule
from nnpkit.units import E_A2_PER_V_TO_A3

__all__ = ["FitResult", "fit", "exponential_moving_average"]


@dataclass
class FitResult:
    """What a training run produced."""

    run_dir: Path
    model_path: Path
    test_metrics: dict
    epochs: int
    stop_reason: str


def exponential_moving_average(model: Potential, decay: float) -> AveragedModel:
    """An EMA copy of ``model``, updated by ``update_parameters(model)``.

    Floating-point parameters and buffers are averaged, ``ema = decay·ema + (1-decay)·x``
    (a constant buffer such as the float64 reference energies stays bit-identical, in
    its own dtype); integer buffers (element and pair indices) are copied, never
    averaged: in float they would round, e.g. an index 3 to 2.9999998 and then 2.
    """
    weight = 1.0 - decay

    @torch.no_grad()
    def update(averaged: Sequence[torch.Tensor], current: Sequence[torch.Tensor],
               _: torch.Tensor | int) -> None:
        means, values = [], []  # the floating ones, updated by one fused lerp
        for mean, value in zip(averaged, current, strict=True):
            if mean.is_floating_point() or mean.is_complex():
                means.append(mean)
                values.append(value)
            else:
                mean.copy_(value)
        if means:
            torch._foreach_lerp_(means, values, weight)

    return AveragedModel(model, multi_avg_fn=update, use_buffers=True)


def _train_epoch(model: Potential, ema: AveragedModel | None, optimizer: torch.optim.Optimizer,
                 graphs: list[AtomicGraph], order: torch.Tensor, config: RunConfig,
                 distributed: tuple[DistributedContext, torch.nn.Module] | None = None,
                 terms: list[DescriptorTerms] | None = None,
                 counts: torch.Tensor | None = None) -> float:
    """One pass over ``order`` in batches of ``training.batch_size``; the mean batch loss.

    Each term of a batch's loss is normalised by the labels of the whole batch. With
    ``distributed`` = (context, DDP module) each process takes its share of every batch
    and the gradient is that of the whole batch (see :mod:`nnpkit.training.distributed`);
    the returned loss is then summed over the processes, the same on every rank. With
    ``terms`` (one per graph, :mod:`nnpkit.training.precomputed`) the predictions come
    from the precomputed descriptor (the same numbers, no descriptor pass). ``counts``:
    :func:`~nnpkit.training.loss.label_counts` of every graph [len(graphs), 5], computed
    once per run (default: per batch).
    """
    settings = config.training
    model.train()
    # (graph, forces, stress, create_graph, dipole, polarizability)
    forward = (partial(compute_properties, model) if distributed is None
               else distributed[1])
    use_dipole, use_polarizability = settings.dipole_weight > 0, settings.polarizability_weight > 0
    total = 0.0
    for start in range(0, len(order), settings.batch_size):
        picks = order[start:start + settings.batch_size]
        normalization = (counts[picks] if counts is not None else torch.cat(
            [label_counts(graphs[int(k)]) for k in picks])).sum(0)  # [5]
        mine, factor = (picks, 1.0) if distributed is None else distributed[0].share(picks)
        batch = collate([graphs[int(k)] for k in mine])
        use_stress = settings.stress_weight > 0 and bool(
            (torch.isfinite(batch.stress).flatten(1).all(1) & batch.pbc.all(1)).any())
        if terms is not None:
            assert isinstance(model, BehlerParrinello)
            prediction = predict_from_descriptor(
                model, batch, collate_terms([terms[int(k)] for k in mine]), use_stress)
        else:
            prediction = forward(batch, settings.forces_weight > 0, use_stress, True,
                                 use_dipole, use_polarizability)
        loss, _ = weighted_loss(prediction, batch, settings.energy_weight,
                                settings.forces_weight, settings.stress_weight, normalization,
                                settings.dipole_weight, settings.polarizability_weight)
        if not torch.isfinite(loss):
            raise TrainingError(
                f"the training loss became {float(loss.detach())}; lower training.learning_rate "
                f"(now {optimizer.param_groups[0]['lr']:.2e}) or check the data for outliers")
        optimizer.zero_grad(set_to_none=True)
        (loss * factor).backward()
        if settings.gradient_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.gradient_clip)
        optimizer.step()
        if ema is not None:
            ema.update_parameters(model)
        if factor:  # a placeholder share (factor 0) adds nothing
            total += float(loss.detach()) * len(picks)
    if distributed is not None:
        total = distributed[0].sum(total)
    return total / max(len(order), 1)


def _validation_loss(metrics: dict, config: RunConfig) -> float:
    """A weighted validation score from the metrics, in milli-units so it reads easily:
    meV/atom, meV/Å, GPa × 100, and the response terms in me·Å (dipole components) and
    me·Å²/V (polarizability components, converted from Å³)."""
    settings = config.training
    score = 0.0
    for key, weight in (("energy_mae_meV_per_atom", settings.energy_weight),
                        ("forces_mae_meV_per_A", settings.forces_weight),
                        ("stress_mae_GPa", settings.stress_weight * 100.0),
                        ("dipole_mae_eA", settings.dipole_weight * 1000.0),
                        ("polarizability_component_mae_A3",
                         settings.polarizability_weight * 1000.0 / E_A2_PER_V_TO_A3)):
        if metrics.get(key) is not None and weight > 0:
            score += weight * metrics[key]
    return score


#: Validation metrics of the response labels that enter the history when they exist.
_RESPONSE_HISTORY = ("dipole_mae_eA", "polarizability_component_mae_A3",
                     "polarizability_iso_mae_A3")


def _history_row(epoch: int, learning_rate: float, train_loss: float, val_loss: float,
                 metrics: dict, elapsed_s: float) -> dict:
    """One row of the history (``metrics.csv``): the validation errors of the epoch, with
    ``val_dipole_mae_eA`` and ``val_polarizability_*_A3`` only when there are any."""
    row = {"epoch": epoch, "learning_rate": learning_rate, "train_loss": train_loss,
           "val_loss": val_loss,
           "val_energy_mae_meV_per_atom": metrics["energy_mae_meV_per_atom"],
           "val_forces_mae_meV_per_A": metrics["forces_mae_meV_per_A"],
           "val_stress_mae_GPa": metrics["stress_mae_GPa"], "elapsed_s": elapsed_s}
    row.update({f"val_{key}": metrics[key] for key in _RESPONSE_HISTORY
                if metrics.get(key) is not None})
    return row


def _stop_reason(epoch: int, elapsed_s: float, since_best: int, learning_rate: float,
                 config: RunConfig) -> str | None:
    settings = config.training
    if epoch >= settings.max_epochs:
        return "max_epochs"
    if settings.time_limit_min is not None and elapsed_s >= 60.0 * settings.time_limit_min:
        return "time_limit"
    if since_best >= settings.early_stopping_patience:
        return "early_stopping"
    if learning_rate < settings.min_learning_rate:
        return "min_learning_rate"
    return None


def _summary_line(config: RunConfig, history: list[dict], epochs: int, reason: str,
                  selection: str) -> str:
    """``nnpkit train: stopped by <reason> (<key>=<value>) after N epochs; best ...``."""
    key = {"max_epochs": "max_epochs", "time_limit": "time_limit_min",
           "early_stopping": "early_stopping_patience",
           "min_learning_rate": "min_learning_rate"}[reason]
    line = (f"nnpkit train: stopped by {reason} (training.{key}="
            f"{getattr(config.training, key)}) after {epochs} epoch{'s' * (epochs != 1)}; ")
    if history:
        best = min(history, key=lambda row: row["val_loss"])
        line += (f"best epoch {best['epoch']} on {selection.upper()} data: force MAE "
                 f"{best['val_forces_mae_meV_per_A']:.2f} meV/Å, energy MAE "
                 f"{best['val_energy_mae_meV_per_atom']:.2f} meV/atom")
        if best.get("val_dipole_mae_eA") is not None:
            line += f", dipole MAE {best['val_dipole_mae_eA']:.4f} e·Å"
        if best.get("val_polarizability_component_mae_A3") is not None:
            line += f", α MAE {best['val_polarizability_component_mae_A3']:.4f} Å³"
        line += "; "
    return line + str(config.output)


def fit(config: RunConfig, resume: bool = False, data: PreparedData | None = None,
        distributed: DistributedContext | None = None) -> FitResult:
    """Train the model that ``config`` describes and write its run directory.

    Args:
        config: the validated run config.
        resume: continue from ``<output>/checkpoint.pt``; the result is the same as if
            the run had not been interrupted (up to the epoch in progress at the kill).
        data: already prepared data (skips reading the files; used by the workflows).
        distributed: this process's DDP context (see :mod:`nnpkit.training.distributed`);
            only its rank 0 writes the run directory and reports test metrics.

    Raises:
        ConfigError: ``--resume`` without a checkpoint; no validation data (see
            ``training.select_on_train``); a dipole/polarizability weight for a model
            without a field coupling.
        DataError: a training structure lacks a label a response loss term needs.
        TrainingError: the loss or the validation predictions stop being finite.
    """
    main = distributed is None or distributed.is_main
    settings = config.training
    check_response_model(config)  # before reading any data
    if settings.num_threads:
        torch.set_num_threads(settings.num_threads)
    dtype = torch.float64 if settings.dtype == "float64" else torch.float32
    run_dir = Path(config.output)
    checkpoint_path = run_dir / "checkpoint.pt"
    if resume and not checkpoint_path.is_file():
        raise ConfigError(f"--resume given but no checkpoint at {checkpoint_path}")
    selection = None
    if data is None and config.data.validation is None and config.data.validation_fraction == 0:
        selection = model_selection(config, 0)  # refuse before reading the data
    run_dir.mkdir(parents=True, exist_ok=True)
    config_text = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    if main:
        atomic_write(run_dir / "config.yaml", lambda tmp: Path(tmp).write_text(config_text))

    torch.manual_seed(settings.seed)
    data = data or prepare_data(config, dtype)
    selection = selection or model_selection(config, len(data.validation))
    check_response_labels(data.train, config, "the training data")  # also data given here
    model = build_model(config.model, list(data.statistics.elements), data.statistics).to(
        settings.device)
    sample = data.train[:settings.normalization_sample]
    model.fit_feature_normalization(sample)
    # before the EMA copy, so that the average holds it from the start (a buffer: saved)
    model.record_training_charges(torch.cat([graph.charge for graph in data.train]))  # [B]
    model = model.to(dtype)
    data = data.to(settings.device, dtype)
    selection_graphs = (data.validation if selection == "validation"
                        else data.train[:N_SELECT_ON_TRAIN])
    ema = (exponential_moving_average(model, settings.ema_decay)
           if settings.ema_decay is not None else None)
    # foreach: one fused update over all parameter tensors (on the CPU too; 0.8 against
    # 1.4 ms a step for the default BPNN)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay, foreach=True)
    scheduler = learning_rate_schedule(optimizer, settings)
    shuffle = torch.Generator().manual_seed(settings.seed)
    history: list[dict] = []
    epoch, best, since_best, elapsed_before = 0, math.inf, 0, 0.0
    if resume:  # a killed run may have left a write half done: its temporary file
        remove_stale_temporaries(checkpoint_path.parent)
        state = restore_training_state(load_checkpoint(checkpoint_path), model, ema,
                                       optimizer, scheduler, shuffle)
        epoch, best, since_best = state["epoch"], state["best"], state["since_best"]
        elapsed_before, history = state["elapsed_s"], list(state["history"])
    evaluated: Potential = ema.module if ema is not None else model  # type: ignore[assignment]
    parallel = None if distributed is None else (distributed, distributed.wrap(model))
    clock = time.process_time if settings.time_clock == "process" else time.monotonic
    started = clock()  # the descriptors' one-off cost counts as training time
    obstacle = ("the run is distributed" if distributed is not None else
                "the loss has response terms" if settings.dipole_weight > 0
                or settings.polarizability_weight > 0 else "")
    terms = terms_for_training(model, data.train, settings.precompute_descriptors, obstacle,
                               settings.progress and main)
    counts = torch.cat([label_counts(graph) for graph in data.train])  # [n_train, 5]
    bar = tqdm(total=settings.max_epochs, initial=epoch, desc="training", unit="epoch",
               disable=not (settings.progress and main))
    reason = _stop_reason(epoch, elapsed_before, since_best,
                          optimizer.param_groups[0]["lr"], config)
    while reason is None:
        order = torch.randperm(len(data.train), generator=shuffle)
        train_loss = _train_epoch(model, ema, optimizer, data.train, order, config, parallel,
                                  terms, counts)
        metrics, _ = evaluate(evaluated, selection_graphs, dipole=settings.dipole_weight > 0,
                              polarizability=settings.polarizability_weight > 0)
        if not math.isfinite(metrics["forces_mae_meV_per_A"] or 0.0) or (
                metrics["energy_mae_meV_per_atom"] is None):
            raise TrainingError(f"validation predictions are not finite after epoch {epoch + 1}")
        val_loss = _validation_loss(metrics, config)
        epoch += 1
        elapsed = elapsed_before + clock() - started
        scheduler.step(val_loss, budget_fraction(settings, epoch, elapsed))
        history.append(_history_row(epoch, optimizer.param_groups[0]["lr"], train_loss,
                                    val_loss, metrics, elapsed))
        if val_loss < best:
            best, since_best = val_loss, 0
            if main:
                save_model(run_dir / "model.nnp", evaluated, data.statistics,
                           {"config": config.model_dump(mode="json"), "epoch": epoch})
        else:
            since_best += 1
        if main:
            save_checkpoint(checkpoint_path, training_state(
                model, ema, optimizer, scheduler, shuffle, epoch=epoch, best=best,
                since_best=since_best, elapsed_s=elapsed, history=history))
            write_history(run_dir / "metrics.csv", history)
        bar.update(1)
        bar.set_postfix(F_meV_A=f"{metrics['forces_mae_meV_per_A']:.1f}",
                        E_meV_at=f"{metrics['energy_mae_meV_per_atom']:.2f}",
                        lr=f"{optimizer.param_groups[0]['lr']:.1e}")
        reason = _stop_reason(epoch, elapsed, since_best, optimizer.param_groups[0]["lr"],
                              config)
        if distributed is not None:
            reason = distributed.agree(reason)  # rank 0's clock decides for everyone
    bar.close()
    if not main:
        return FitResult(run_dir, run_dir / "model.nnp", {}, epoch, str(reason))
    result = _finish(run_dir, data, history, epoch, reason, selection, settings.device)
    tqdm.write(_summary_line(config, history, epoch, reason, selection), file=sys.stderr)
    return result


def _finish(run_dir: Path, data: PreparedData, history: list[dict], epochs: int, reason: str,
            selection: str, device: str) -> FitResult:
    from nnpkit.models.model_file import load_model

    best_model = load_model(run_dir / "model.nnp", device=device).double()
    test_metrics, predictions = evaluate(best_model, [g.to(dtype=torch.float64)
                                                      for g in data.test])
    summary = {"test": test_metrics, "epochs": epochs, "stop_reason": reason,
               "model_selection": selection, "n_train": len(data.train),
               "n_validation": len(data.validation), "n_test": len(data.test),
               "training_time_s": history[-1]["elapsed_s"] if history else 0.0}
    atomic_write(run_dir / "metrics.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2)))
    plot_parity(predictions, run_dir / "parity.png")
    if history:
        plot_learning_curve(history, run_dir / "learning_curve.png")
    return FitResult(run_dir, run_dir / "model.nnp", test_metrics, epochs, reason)
