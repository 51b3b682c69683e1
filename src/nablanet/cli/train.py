"""``nablanet train``, ``evaluate`` and ``predict``: feedforward networks on images
(MNIST, Fashion-MNIST, any directory of IDX or ``.npy`` files, the book's pickle)."""

from __future__ import annotations

import inspect
import logging
import math
from itertools import chain, pairwise
from pathlib import Path

import click
import numpy as np

from nablanet.atomic import atomic_output
from nablanet.cli.options import (
    CONTEXT,
    check_model_kind,
    check_parameter_count,
    examples,
    loss_name,
    make_optimizer,
    option_given,
    parse_sizes,
    plural,
    renamed,
    shared_option,
    training_controls,
    training_options,
    validation_split_of,
    verbosity_options,
)
from nablanet.cli.outputs import check_outputs, write_json, writing
from nablanet.cli.runs import (
    fit_run,
    prepare_run,
    resumable,
    resume_model,
    run_history,
    run_options,
    run_record,
)

log = logging.getLogger("nablanet")

#: the named data sets: (pixels per image, classes), known before anything is read
KNOWN_DATASETS = {"mnist": (784, 10), "fashion-mnist": (784, 10)}

#: the share of a single images/labels pair held out for testing (saved with the model)
TEST_FRACTION = 0.2

#: class names for the plots (Fashion-MNIST: Xiao, Rasul and Vollgraf, 2017)
CLASS_NAMES = {"fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]}

DATASET_HELP = ("DATASET is 'mnist', 'fashion-mnist' (downloaded once, or found as "
                "'nablanet info' says), a directory of IDX or .npy image and label files "
                "(the train and t10k IDX files, x_train.npy and y_train.npy, ...; of a "
                "single images/labels pair --test-split is held out for testing), or the "
                "book's mnist.pkl.gz.")


def check_sizes(sizes: list[int], n_pixels: int, n_classes: int, where: str) -> None:
    """Refuse ``--sizes`` whose input layer is not ``n_pixels`` wide or whose output
    layer does not have one neuron per class.

    Raises
    ------
    click.BadParameter
        Naming --sizes, the layer, what ``where`` holds and what was given.
    """
    given = ",".join(map(str, sizes))
    if sizes[0] != n_pixels:
        raise click.BadParameter(f"{given}: the input layer has {sizes[0]} neurons but "
                                 f"{where} has {plural(n_pixels, 'pixel')} per image",
                                 param_hint="--sizes")
    if sizes[-1] != n_classes:
        raise click.BadParameter(f"{given}: the output layer has {sizes[-1]} neurons but "
                                 f"{where} has {plural(n_classes, 'class', 'classes')} "
                                 f"(labels 0-{n_classes - 1}): one neuron per class",
                                 param_hint="--sizes")


def dataset_fingerprint(spec) -> list:
    """What identifies DATASET for ``evaluate``: its name (``mnist``, ``fashion-mnist``),
    or the names and sizes in bytes of its files (a directory's, sorted, or the file's)."""
    if spec in KNOWN_DATASETS:
        return [str(spec)]
    path = Path(spec).expanduser()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return [[p.name, p.stat().st_size] for p in files if p.exists()]


#: the options that describe a --sizes network, which --layers replaces
SIZES_OPTIONS = ("sizes", "activation", "output_activation", "loss", "init")

#: --lr when --layers is given without it: the book's chapter-6 eta, Adam's usual rate
LAYERS_LR = {"sgd": 0.03, "momentum": 0.03, "nesterov": 0.03, "rmsprop": 0.001,
             "adam": 0.001}

LAYERS_HELP = (
    "A convolutional network instead of --sizes: layer tokens separated by commas, input "
    "first (the book's chapter-6 network is in the examples below). "
    "conv:FxK[:sS][:same|:valid|:pP][:ACT] is F "
    "filters of K x K (stride S, padding valid, ACT relu); pool:P max-pools P x P "
    "windows; dense:N[:ACT] is N units (relu); dropout:R drops a fraction R in training; "
    "softmax:N, last and required, is the output: one unit per class, trained with the "
    "cross-entropy. ACT is relu, tanh, sigmoid or identity; weights are He for relu, "
    "Glorot otherwise. The images enter as (1, rows, columns). --lr defaults to 0.03 "
    "(SGD, momentum, Nesterov) or 0.001 (RMSprop, Adam). Not with --sizes, --activation, "
    "--output-activation, --loss or --init. [default: none: the --sizes network]")


def n_classes_of(*labels: np.ndarray) -> int:
    """The number of classes of integer labels ``0..K-1``: their maximum + 1."""
    return int(max(y.max() for y in labels)) + 1


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet train fashion-mnist --epochs 1 --weights-plot-out weights.png "
    "--misclassified-plot-out wrong.png",
    "nablanet train mnist --sizes 784,100,10 --activation relu --output-activation softmax "
    "--init he --optimizer adam --lr 0.001 --batch-size 32 --model-out net.safetensors",
    "nablanet train fashion-mnist --layers conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,"
    "dropout:0.5,softmax:10 --optimizer adam --batch-size 64 --schedule cosine --epochs 20 "
    "--metrics-out metrics.json --plot-out curves.png",
))
@click.argument("dataset")
@click.option("--sizes", default="784,30,10", callback=parse_sizes,
              help="Neurons per layer, input first: pixels per image, hidden layers, one "
              "output per class.")
@click.option("--layers", metavar="SPEC", default=None, help=LAYERS_HELP)
@shared_option("epochs", 30)
@shared_option("batch_size", 10)
@shared_option("activation", "sigmoid")
@click.option("--output-activation", type=click.Choice(["sigmoid", "softmax"]),
              default="sigmoid", help="Output-layer activation.")
@shared_option("loss", note="quadratic; cross_entropy with --output-activation softmax")
@click.option("--init", type=click.Choice(["normal", "scaled_normal", "glorot", "he"]),
              default="normal", help="Weight initialisation: N(0, 1) (Nielsen's ch. 1), "
              "N(0, 1/n_in), Glorot or He.")
@shared_option("validation_split")
@shared_option("eval_every", 1)
@shared_option("test_split")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--weights-plot-out", type=click.Path(dir_okay=False), default=None,
              help="Draw the first layer's weights as a grid of images (one per hidden "
              "unit, or per filter with --layers; at most 100) to this PNG file (pip "
              "install 'nablanet[plot]') [default: no plot].")
@click.option("--misclassified-plot-out", type=click.Path(dir_okay=False), default=None,
              help="Draw the first 36 misclassified test images, each titled true -> "
              "predicted class (by name for fashion-mnist), to this PNG file [default: "
              "no plot].")
@training_options({"optimizer": "sgd", "lr": 3.0})
@renamed("--output", "--output-activation", "output_activation",
         type=click.Choice(["sigmoid", "softmax"]))
@verbosity_options
@resumable
def train(dataset, sizes, layers, epochs, batch_size, activation, output_activation, loss,
          init, validation_split, eval_every, test_split, offline, **o):
    """Train a feedforward network on DATASET; log its loss and accuracy per epoch.

    The defaults are the chapter 1 network of Michael Nielsen's online book "Neural
    Networks and Deep Learning": [784, 30, 10] sigmoid neurons, quadratic cost, N(0, 1)
    weights, plain SGD, 30 epochs of mini-batches of 10 at learning rate (the book's
    eta) 3.0. With --layers, a convolutional network (the book's chapter 6) instead.
    """
    from nablanet.datasets.mnist import image_source, load_images
    from nablanet.models import Network, Sequential
    from nablanet.models.spec import parse_layers
    from nablanet.serialization import save

    prepare_run(o, {"DATASET": dataset})
    if layers is not None:
        ctx = click.get_current_context()
        given = [f"--{n.replace('_', '-')}" for n in SIZES_OPTIONS
                 if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"--layers describes the whole network: leave out "
                                   f"{', '.join(given)}")
        if not option_given("lr"):
            o["lr"] = LAYERS_LR[o["optimizer"]]
    else:
        check_parameter_count("--sizes", sum((a + 1) * b for a, b in pairwise(sizes)),
                              o["dtype"])
        if dataset in KNOWN_DATASETS:
            check_sizes(sizes, *KNOWN_DATASETS[dataset], dataset)
        loss = loss_name(loss) or ("cross_entropy" if output_activation == "softmax"
                                   else "quadratic")
        net = Network(sizes, activation=activation, output_activation=output_activation,
                      loss=loss, init=init, optimizer=make_optimizer(o), seed=o["seed"],
                      dtype=o["dtype"])
        image_source(dataset)  # a DATASET that names nothing: said before any work
        if o["class_weight"] == "none":  # fit's compiled kernel, loaded before the data
            net.load_kernel(o["backend"], batch_size)  # (LLVM's pages then dropped)
    data = load_images(dataset, offline=offline, dtype=o["dtype"], seed=o["seed"],
                       test_fraction=test_split, pixels=True)  # uint8, converted per batch
    log.info("data: %s: %s and %s", data.source, plural(len(data.X_train), "training image"),
             plural(len(data.X_test), "test image"))
    n_classes = n_classes_of(data.y_train, data.y_test)
    X_train, X_test = data.X_train, data.X_test
    if layers is None:
        check_sizes(sizes, X_train.shape[1], n_classes, data.source)
        described: dict = {"sizes": sizes, "activation": activation,
                           "output_activation": output_activation, "loss": loss,
                           "init": init}
    else:
        image_shape = (1, *data.image_shape)
        X_train, X_test = (X.reshape(-1, *image_shape) for X in (X_train, X_test))
        try:
            parsed = parse_layers(layers, image_shape, seed=o["seed"], dtype=o["dtype"])
        except ValueError as exc:
            raise click.BadParameter(str(exc).removeprefix("layers: "),
                                     param_hint="--layers") from None
        check_parameter_count("--layers", sum(p.count_params() for p in parsed), o["dtype"])
        if parsed[-1].n_out != n_classes:
            raise click.BadParameter(
                f"{layers}: the output layer has {parsed[-1].n_out} units but "
                f"{data.source} has {plural(n_classes, 'class', 'classes')} (labels "
                f"0-{n_classes - 1}): one unit per class", param_hint="--layers")
        net = Sequential(parsed, output_activation="softmax", loss="cross_entropy",
                         optimizer=make_optimizer(o), seed=o["seed"], dtype=o["dtype"],
                         input_shape=image_shape)
        described = {"layers": layers}
    schedule, stopping = training_controls(o, epochs)
    validation_split = validation_split_of(validation_split, o)
    if o["resume"]:
        net = resume_model(o["resume"], net, o, epochs, schedule, stopping)
    fit_args = {"validation_split": validation_split} if validation_split else {
        "validation_data": (X_test, data.y_test)}
    log.info("network %s, %s", layers or sizes, net.optimizer)
    if not validation_split:
        log.info("the epoch line's val_ values are on the %s (the book's per-epoch test "
                 "accuracy; --validation-split holds out training images for them instead)",
                 plural(len(X_test), "test image"))
    cli = {"command": "train", "dataset": str(dataset), "seed": o["seed"],
           "test_fraction": test_split, "fingerprint": dataset_fingerprint(dataset)}
    cli["options"] = run_options({**o, "sizes": sizes, "layers": layers,
                                  "batch_size": batch_size, "activation": activation,
                                  "output_activation": output_activation, "loss": loss,
                                  "init": init, "validation_split": validation_split,
                                  "eval_every": eval_every, "test_split": test_split})
    record = run_record("train", {
        "dataset": str(dataset), **described, "epochs": epochs, "batch_size": batch_size,
        "validation_split": validation_split, "eval_every": eval_every,
        "test_split": test_split, "offline": offline, **o}, schedule)
    history = fit_run(net, (X_train, data.y_train), o, epochs=epochs, cli=cli,
                      record=record, batch_size=batch_size, schedule=schedule,
                      early_stopping=stopping, eval_every=eval_every,
                      backend=o["backend"], threads=o["threads"],
                      shuffle=o["shuffle"], **fit_args)
    correct = int((net.predict(X_test) == data.y_test).sum())
    n_test = len(X_test)
    summary = {
        "test_correct": correct, "test_accuracy": correct / n_test, "n_test": n_test,
        "total_seconds": history.total_seconds,
    }
    if not validation_split:
        accs = history["val_accuracy"]
        summary["best_test_accuracy"] = max(accs)
        summary["best_epoch"] = history.epochs[int(np.argmax(accs))]["epoch"]
    log.info("test accuracy %d / %d images (%.2f%%)%s | %.1f s in all", correct, n_test,
             100 * correct / n_test,
             f" | best {100 * summary['best_test_accuracy']:.2f}% at epoch "
             f"{summary['best_epoch']}" if "best_epoch" in summary else "",
             history.total_seconds)
    if o["model_out"]:
        with writing(o["model_out"], "model"):
            save(net, o["model_out"], cli=cli)
    if o["metrics_out"]:
        write_json(o["metrics_out"], {**record, "backend": net.training_state.backend,
                                      "dataset": data.source, "config": net.get_config(),
                                      "optimizer": net.optimizer.config(), "final": summary,
                                      "history": run_history(net, history)})
    if o["plot_out"]:
        from nablanet.plotting import plot_training

        with writing(o["plot_out"], "learning curves and confusion matrix"):
            plot_training(o["plot_out"], history, y_true=data.y_test,
                          y_pred=net.predict(X_test),
                          class_names=CLASS_NAMES.get(dataset))
    if o["weights_plot_out"]:
        from nablanet.plotting import plot_weights

        with writing(o["weights_plot_out"], "first-layer weights"):
            plot_weights(o["weights_plot_out"], net, image_shape=data.image_shape)
    if o["misclassified_plot_out"]:
        from nablanet.plotting import plot_misclassified

        with writing(o["misclassified_plot_out"], "misclassified test images"):
            plot_misclassified(o["misclassified_plot_out"], X_test, data.y_test,
                               net.predict(X_test), image_shape=data.image_shape,
                               class_names=CLASS_NAMES.get(dataset))


train.help = inspect.cleandoc(train.help or "") + "\n\n" + DATASET_HELP


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet train fashion-mnist --epochs 1 --model-out net.safetensors",
    "nablanet evaluate fashion-mnist -m net.safetensors",
    "nablanet evaluate fashion-mnist -m net.safetensors --metrics-out test.json",
))
@click.argument("dataset", required=False, metavar="DATASET")  # required, but --dataset too
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A network saved by 'nablanet train --model-out'.")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="For a directory with a single images/labels pair: the seed of the "
              "held-out draw [default: the training run's, saved in the model, so that "
              "the same images are held out; another seed on the training data set is "
              "refused].")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--metrics-out", type=click.Path(dir_okay=False), default=None,
              help="Write the test metrics to this JSON file [default: not written].")
@renamed("--dataset", "the positional DATASET", "dataset")
@verbosity_options
def evaluate(dataset, model_path, seed, offline, metrics_out):
    """Evaluate a saved network on the test split of DATASET: accuracy, macro F1,
    per-class precision, recall and F1, and the confusion matrix.

    DATASET is as for 'nablanet train'. On the data set the network was trained on (the
    same names and file sizes, recorded in the model) the test images are exactly those
    its training run held out; on any other data set, every image is a test image. A
    network that records no training data set (saved from Python) is evaluated on every
    image of DATASET, with a warning when they, or DATASET's training images, are the
    data it was trained on (the fingerprint its training state records).
    """
    from nablanet.datasets.mnist import load_images
    from nablanet.metrics import multiclass_metrics, report_text
    from nablanet.serialization import read_cli

    if dataset is None:
        raise click.UsageError("Missing argument 'DATASET'.")
    check_outputs({"--metrics-out": metrics_out}, {"DATASET": dataset, "--model": model_path})
    check_model_kind(model_path, "evaluate")
    net, input_shape = load_classifier(model_path)
    saved = read_cli(model_path)
    trained_on = saved.get("fingerprint") == dataset_fingerprint(dataset) \
        if "fingerprint" in saved else saved.get("dataset") == str(dataset)
    if trained_on and seed is not None and seed != saved.get("seed", seed):
        raise click.BadParameter(
            f"{seed}: {model_path} was trained on {dataset} holding out the images of "
            f"seed {saved['seed']}; another seed would test on training images (leave "
            "--seed out)", param_hint="--seed")
    if seed is None:
        seed = saved.get("seed", 1)
    # a data set that is not the training run's is evaluated whole: nothing held out
    data = load_images(dataset, offline=offline, dtype=net.dtype, seed=seed,
                       test_fraction=saved.get("test_fraction", TEST_FRACTION)
                       if trained_on else 0)
    title = f"Test evaluation ({data.source})"
    if trained_on:
        log.info("%s: the images its training run held out (seed %d)", data.source, seed)
    else:
        parts = [(X, y) for X, y in ((data.X_train, data.y_train), (data.X_test, data.y_test))
                 if len(y)]
        data = data._replace(X_test=np.concatenate([X for X, _ in parts]),
                             y_test=np.concatenate([y for _, y in parts]))
        if "fingerprint" in saved or "dataset" in saved:
            log.info("%s: not the training data set: every image is a test image",
                     data.source)
        else:
            title = f"Evaluation of every image ({data.source})"
            log.info("%s: %s records no training data set (it was not saved by 'nablanet "
                     "train'): evaluating all %s", data.source, model_path,
                     plural(len(data.y_test), "image"))
    n_classes, pixels = n_classes_of(data.y_test), data.X_test.shape[1]
    if math.prod(input_shape) != pixels:
        raise ValueError(f"{model_path}: a network for images of "
                         f"{plural(math.prod(input_shape), 'pixel')} cannot classify "
                         f"{data.source} ({plural(pixels, 'pixel')} per image)")
    classes = n_outputs(net, input_shape)
    if classes < n_classes:
        raise ValueError(f"{model_path}: a network for "
                         f"{plural(classes, 'class', 'classes')} cannot classify "
                         f"{data.source} ({plural(n_classes, 'class', 'classes')})")
    if not trained_on:  # the model's own record of its training data: its fingerprint
        sets = [("these images", data.X_test, data.y_test)]
        if len(parts) == 2:
            sets.append((f"its {plural(len(parts[0][1]), 'training image')}", *parts[0]))
        for what, X, y in sets:
            if net.trained_on(X.reshape(-1, *input_shape), y):
                log.warning("%s: %s are the data %s was trained on (the fingerprint its "
                            "training run recorded): this evaluation is on training "
                            "images, not a test", data.source, what, model_path)
    metrics = multiclass_metrics(data.y_test,
                                 net.predict(data.X_test.reshape(-1, *input_shape)),
                                 n_classes=classes)
    click.echo(report_text(metrics, title))
    if metrics_out:
        write_json(metrics_out, {"command": "evaluate", "model": model_path,
                                 "dataset": data.source, "test": metrics})


def load_classifier(path) -> tuple:
    """``(model, input_shape)``: the image classifier saved in ``path`` (by 'nablanet
    train' or from Python), and the shape of one image as it takes it, the model's
    ``sample_shape``: ``(pixels,)`` for a dense network, ``(channels, rows, columns)``
    for a convolutional one (a file of an earlier release has it in its CLI section).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`nablanet.serialization.load`; ValueError naming ``path`` for a
        recurrent model or a model that does not record its input shape.
    """
    from nablanet.models import RecurrentNetwork, Sequential
    from nablanet.serialization import load, read_cli

    model = load(path, expect=Sequential)
    if isinstance(model, RecurrentNetwork):
        raise ValueError(f"{path}: a recurrent model ({type(model).__name__}): use "
                         "'nablanet rnn predict' / 'nablanet rnn evaluate'")
    if model.sample_shape is not None:
        return model, model.sample_shape
    shape = read_cli(path).get("image_shape")  # where earlier releases kept it
    if not (isinstance(shape, list) and len(shape) == 3
            and all(type(v) is int and 1 <= v <= 2**16 for v in shape)):
        raise ValueError(f"{path}: a {type(model).__name__} that does not record the "
                         "shape of its inputs: train it with 'nablanet train', or fit it "
                         "(or give it input_shape) in Python before saving")
    return model, tuple(shape)


def n_outputs(model, input_shape: tuple) -> int:
    """The classes ``model`` scores: the size of its output for one input (the layers'
    own shape check raises ValueError when ``input_shape`` does not fit them)."""
    return model.predict_proba(np.zeros((1, *input_shape), dtype=model.dtype)).shape[-1]


#: images scored at a time by 'nablanet predict' (a .npy file is memory-mapped)
PREDICT_BATCH = 4096


def read_images(path) -> np.ndarray:
    """Images to classify as the file holds them (shape and dtype unchecked, see
    :func:`as_rows` and :func:`image_batches`): a memory map for a ``.npy`` file, so
    that nothing is read before it is used, or an IDX file's array.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a file.
    ValueError
        Naming ``path``: not an array (a ``.npz`` archive) or no values.
    """
    from nablanet.datasets.idx import read_idx

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".npy":
        try:
            X = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: not a .npy array ({exc})") from None
        if not isinstance(X, np.ndarray):
            X.close()
            raise ValueError(f"{path}: a .npz archive, expected a .npy array")
    else:
        X = read_idx(path)
    if X.size == 0:
        raise ValueError(f"{path}: no images: the array has shape {X.shape}")
    return X


def image_layouts(sample_shape: tuple) -> str:
    """The layouts of images that :func:`as_rows` takes for a model of
    ``sample_shape``, in words."""
    pixels = math.prod(sample_shape)
    if len(sample_shape) == 1:
        return (f"(n, {pixels}) or (n, rows, columns) of {pixels} pixels, or one image "
                f"(rows, columns)")
    shapes = [sample_shape] + ([sample_shape[1:]] if sample_shape[0] == 1 else [])
    one = [", ".join(map(str, s)) for s in shapes]
    return (", ".join(f"(n, {s})" for s in one) + f" or (n, {pixels}), or one image "
            + " or ".join(f"({s})" for s in one))


def as_rows(X: np.ndarray, sample_shape: tuple, path, model_path) -> np.ndarray:
    """``X`` viewed as ``(n, pixels)`` rows for a model of ``sample_shape``: many images
    ``(n, *sample_shape)``, ``(n, pixels)``, ``(n, rows, columns)`` for one channel (a
    dense model takes any ``(n, ...)`` of its pixel count), or one image (the same
    without ``n``).

    Raises
    ------
    ValueError
        Naming ``path`` and ``model_path``: a shape that fits none of these layouts.
    """
    pixels = math.prod(sample_shape)
    shapes = {(pixels,), tuple(sample_shape)}
    if len(sample_shape) == 3 and sample_shape[0] == 1:
        shapes.add(tuple(sample_shape[1:]))

    def fits(shape: tuple) -> bool:
        if len(sample_shape) == 1:  # a dense model sees pixels, not rows and columns
            return 1 <= len(shape) <= 3 and math.prod(shape) == pixels
        return shape in shapes

    if X.ndim >= 2 and fits(X.shape[1:]):
        return X.reshape(len(X), pixels)
    if fits(X.shape):
        return X.reshape(1, pixels)
    raise ValueError(f"{path}: images of shape {X.shape} do not fit the network "
                     f"{model_path}, which takes {plural(pixels, 'pixel')} per image: "
                     f"{image_layouts(tuple(sample_shape))}")


def image_batches(X: np.ndarray, path, dtype, batch: int):
    """Yield the rows ``X (n, pixels)`` of :func:`as_rows` ``batch`` at a time as floats
    of ``dtype`` in [0, 1], checked and scaled by the one pixel rule
    (:func:`nablanet.validation.as_images`: integers 0..255 divided by 255, floats in
    [0, 1] as they are).

    Raises
    ------
    ValueError, TypeError
        As :func:`~nablanet.validation.as_images`, naming ``path`` and the images of the
        batch.
    """
    from nablanet.validation import as_images

    for start in range(0, len(X), batch):
        B = np.asarray(X[start:start + batch])
        yield as_images(B, f"{path} (images {start}-{start + len(B) - 1})", dtype=dtype)


def text_line(values: np.ndarray) -> str:
    """One output a line: a label, or a row of probabilities separated by spaces."""
    return f"{values}\n" if values.ndim == 0 else " ".join(map(str, values.tolist())) + "\n"


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet predict images.npy -m net.safetensors",
    "nablanet predict t10k-images-idx3-ubyte.gz -m net.safetensors -o labels.txt",
    "nablanet predict images.npy -m net.safetensors --proba -o proba.npy",
))
@click.argument("images", type=click.Path(dir_okay=False))
@click.option("-m", "--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A network saved by 'nablanet train --model-out' (or from Python).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the labels (with --proba, the probabilities) here: .npy, or "
              "text with one image per line [default: standard output, one image per "
              "line].")
@click.option("--proba", is_flag=True,
              help="Write each image's class probabilities (the output layer's "
              "activations) instead of its label: one row per image, (n, classes) in a "
              ".npy file, separated by spaces in text.")
@verbosity_options
def predict(images, model_path, output, proba):
    """Predict a class label (or, with --proba, the class probabilities) for each image
    of IMAGES: an IDX image file or a .npy array.

    The array holds many images, (n, rows, columns), (n, pixels) or channel first
    (n, channels, rows, columns), or one image, (rows, columns), as the network takes
    them. Integer pixels must be in 0-255 (they are divided by 255); float pixels in
    [0, 1].
    """
    check_outputs({"--output": output}, {"IMAGES": images, "--model": model_path})
    check_model_kind(model_path, "predict")
    net, input_shape = load_classifier(model_path)
    X = as_rows(read_images(images), input_shape, images, model_path)
    score = net.predict_proba if proba else net.predict
    results = (score(B.reshape(-1, *input_shape))
               for B in image_batches(X, images, net.dtype, PREDICT_BATCH))
    what = plural(len(X), "probability row" if proba else "label")
    if output and output.endswith(".npy"):
        with writing(output, what), atomic_output(output) as tmp:
            first = next(results)
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=first.dtype,
                                            shape=(len(X), *first.shape[1:]))
            start = 0
            for batch in chain([first], results):
                out[start:start + len(batch)] = batch
                start += len(batch)
            out.flush()
            del out
    elif output:
        with writing(output, what), atomic_output(output) as tmp, tmp.open("w") as f:
            for batch in results:
                f.write("".join(map(text_line, batch)))
    else:
        for batch in results:
            click.echo("".join(map(text_line, batch)), nl=False)
        log.info("%s written to standard output", what)
