"""The model registry. Every model takes the image shape (C, H, W) and its own parameters.

Reading the registry imports no torch: each entry holds its parameter schema and names its
builder lazily (lossbench.models.builders)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from lossbench.core.lazy import Lazy, lazy_exports


class OutputParams(BaseModel):
    """What every model accepts: the decoder's output parameterisation."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    output: Literal["auto", "sigmoid", "linear"] = Field(
        "auto", description="decoder output: sigmoid (logits; needed by bce) or linear (unbounded, clamped to [0, 1] "
                            "for evaluation); auto: sigmoid where a condition's term needs probabilities, else linear")


#: a layer's width: at least 1; the bound keeps a typo (an extra zero or three) from being an
#: allocation the machine cannot make (the whole model is also sized before training, see spec.py)
Width = Annotated[int, Field(ge=1, le=1 << 16)]


class MLPParams(OutputParams):
    latent_dim: Width = Field(3, description="code size (the seed study used 3)")
    hidden: list[Width] = Field([512, 256], min_length=1, max_length=32, description="hidden widths, encoder order")


class ConvParams(OutputParams):
    latent_dim: Width = Field(16)
    channels: list[Width] = Field([32, 64], min_length=1, max_length=10, description="channels of the stride-2 convolutions")


@dataclass(frozen=True)
class ModelEntry:
    build: Callable  # (shape, params) -> the nn.Module; a Lazy for the built-in models
    params: type[BaseModel]
    variational: bool
    description: str


def _built_in(name: str) -> Lazy:
    return Lazy(f"lossbench.models.builders:{name}")


MODELS: dict[str, ModelEntry] = {
    "ae-mlp": ModelEntry(_built_in("ae_mlp"), MLPParams, False, "fully connected autoencoder (default 3-d code, hidden 512-256)"),
    "ae-conv": ModelEntry(_built_in("ae_conv"), ConvParams, False, "convolutional autoencoder (stride-2 convs 32-64, 16-d code)"),
    "vae-mlp": ModelEntry(_built_in("vae_mlp"), MLPParams, True, "fully connected VAE, Gaussian posterior, N(0, I) prior"),
    "vae-conv": ModelEntry(_built_in("vae_conv"), ConvParams, True, "convolutional VAE, Gaussian posterior, N(0, I) prior"),
}


def build_model(name: str, shape: tuple[int, int, int], params: dict, channel_means=None):
    """The model, its output bias started at ``channel_means`` (the training data's mean
    intensity per channel) when given."""
    entry = MODELS[name]
    model = entry.build(tuple(shape), entry.params(**{k: v for k, v in params.items() if k != "target"}))
    if channel_means is not None and hasattr(model, "init_output"):  # optional in the model protocol
        model.init_output(channel_means)
    return model


def build_run_model(model_cfg: dict, shape: tuple[int, int, int], channel_means=None):
    """A run's model from its config's ``model`` section (name, label and its parameters), as
    training builds it and scoring rebuilds it before loading the checkpoint."""
    params = {k: v for k, v in model_cfg.items() if k not in ("name", "label", "target")}
    return build_model(model_cfg["name"], shape, params, channel_means)


# the torch side, imported when first used
__getattr__ = lazy_exports(__name__, {"OUTPUTS": "lossbench.models.ae:OUTPUTS", "SATURATED_LOGIT": "lossbench.models.ae:SATURATED_LOGIT",
                                      "Autoencoder": "lossbench.models.ae:Autoencoder",
                                      "VariationalAutoencoder": "lossbench.models.vae:VariationalAutoencoder"})

__all__ = ["MODELS", "OUTPUTS", "SATURATED_LOGIT", "Autoencoder", "VariationalAutoencoder", "build_model", "build_run_model"]
