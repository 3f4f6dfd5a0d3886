"""``natural-patches``: natural photographs, offline. Square patches cut on a fixed grid from the photographs that
scikit-image and scikit-learn ship inside their wheels (both are dependencies of lossbench), so a fresh machine has
them without a download.

The test split is a set of whole photographs (:data:`TEST`): no test patch comes from a photograph that a training
patch comes from, so a model cannot score well by having seen the rest of the same picture. The two motorcycle
images are one stereo pair (nearly the same scene) and are both on the training side.

Which photographs: the photographs in colour that the two packages ship (:data:`SOURCES`). Left out, and why:
scikit-image's synthetic or drawn images (checkerboard, colour wheel, logo, horse silhouette, Shepp-Logan phantom),
documents (page, text), a microscope phase image (cell), a photograph blurred on purpose (clock: a blur measure's
reference must not be blurred), a 102-px crop (microaneurysms), and its grey photographs and textures (camera, coins,
moon, brick, grass, gravel): one set of sources for both variants, so that the grey variant (``data.channels: 1``) is
the colour one converted (PIL's ITU-R 601-2 luma), patch for patch.

Flat patches (pixel standard deviation under :data:`FLAT_STD` of 255, the retina photograph's black surround, the
astronaut's corner) are dropped: a patch with nothing in it has no structure to lose, and the blur measure reads a
flat image as flatter than its scale.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

import numpy as np

from lossbench.core.errors import LossbenchError


@dataclass(frozen=True)
class Photograph:
    file: str  # the file's name inside its package's folder
    package: str  # "scikit-image" or "scikit-learn"
    licence: str  # as the package states it
    content: str  # what it shows, in a few words

    @property
    def folder(self) -> str:
        return {"scikit-image": "skimage.data", "scikit-learn": "sklearn.datasets.images"}[self.package]

    def shape(self) -> tuple[int, int]:
        """(height, width), from the file's header."""
        from PIL import Image

        with resources.as_file(resources.files(self.folder) / self.file) as p, Image.open(p) as im:
            return im.size[1], im.size[0]

    def read(self, channels: int) -> np.ndarray:
        """H×W×C uint8, colour or grey (converted by PIL)."""
        from PIL import Image

        path = resources.files(self.folder) / self.file
        try:
            with resources.as_file(path) as p, Image.open(p) as im:
                return np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.uint8).reshape(
                    im.size[1], im.size[0], channels)
        except (FileNotFoundError, OSError) as exc:
            raise LossbenchError(f"data: natural-patches reads {self.file} from the {self.package} package "
                                 f"({self.folder}), which this installation lacks ({exc}); reinstall {self.package}") from None


SOURCES: tuple[Photograph, ...] = (
    Photograph("astronaut.png", "scikit-image", "public domain (NASA; no known copyright restrictions)",
               "the astronaut Eileen Collins"),
    Photograph("chelsea.png", "scikit-image", "CC0 (Stefan van der Walt)", "a cat"),
    Photograph("coffee.png", "scikit-image", "CC0 (Rachel Michetti)", "a cup of coffee"),
    Photograph("hubble_deep_field.jpg", "scikit-image", "public domain (NASA)", "the Hubble deep field"),
    Photograph("rocket.jpg", "scikit-image", "public domain (SpaceX)", "a rocket on its launch pad"),
    Photograph("retina.jpg", "scikit-image", "CC0 (Mikael Häggström, Wikimedia Commons)", "a fundus photograph"),
    Photograph("ihc.png", "scikit-image", "no known copyright restrictions (CMMI)", "stained colonic glands"),
    Photograph("motorcycle_left.png", "scikit-image", "not stated by scikit-image (Middlebury 2014 stereo data, "
               "Scharstein et al., GCPR 2014)", "a motorcycle, left view"),
    Photograph("motorcycle_right.png", "scikit-image", "not stated by scikit-image (Middlebury 2014 stereo data, "
               "Scharstein et al., GCPR 2014)", "the same motorcycle, right view"),
    Photograph("china.jpg", "scikit-learn", "CC BY 2.0 (danielbuechele, Flickr)", "a Chinese temple"),
    Photograph("flower.jpg", "scikit-learn", "CC BY 2.0 (vultilion, Flickr)", "a flower"),
)

#: the test split: whole photographs, chosen before any study ran, for varied content (an animal, food, a machine
#: against the sky, a plant); about 18% of the 32-px patches
TEST = ("chelsea.png", "coffee.png", "rocket.jpg", "flower.jpg")

#: a patch whose pixels' standard deviation (0-255 scale, over all channels) is below this is dropped as flat
FLAT_STD = 2.0

DEFAULT_SIZE = 32


def patches(size: int, stride: int | None, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train patches, their photograph's index in SOURCES, test patches, theirs, notes): N×size×size×channels
    uint8, cut row by row from the top-left corner every ``stride`` px (``size`` when None: no overlap), in the
    order of SOURCES, flat ones dropped."""
    stride = size if stride is None else stride
    smallest = min(SOURCES, key=lambda p: min(p.shape()))
    side = min(smallest.shape())
    if size > side:
        raise LossbenchError(f"data.size: {size}-px patches do not fit in {smallest.file}, whose shorter side is "
                             f"{side} px; natural-patches cuts every photograph, so data.size can be at most {side}")
    parts: dict[bool, list[np.ndarray]] = {False: [], True: []}
    labels: dict[bool, list[np.ndarray]] = {False: [], True: []}
    dropped = 0
    for index, photo in enumerate(SOURCES):
        colour = photo.read(3)
        cut = _grid(colour, size, stride)
        keep = cut.reshape(len(cut), -1).std(1) >= FLAT_STD  # judged in colour: both variants keep the same patches
        if channels == 1:  # the same photograph in grey (PIL's luma), cut on the same grid
            from PIL import Image

            cut = _grid(np.asarray(Image.fromarray(colour).convert("L"))[..., None], size, stride)
        dropped += int((~keep).sum())
        test = photo.file in TEST
        parts[test].append(cut[keep])
        labels[test].append(np.full(int(keep.sum()), index, dtype=np.int64))
    train, test_ = np.concatenate(parts[False]), np.concatenate(parts[True])
    notes = [f"natural-patches: {len(train) + len(test_):,} patches of {size}x{size} px "
             f"({'RGB' if channels == 3 else 'grey, PIL luma'}), cut every {stride} px from {len(SOURCES)} photographs "
             f"shipped in scikit-image and scikit-learn ({dropped:,} flat patches dropped: pixel std < {FLAT_STD:g}/255); "
             f"the test split is the photographs {', '.join(TEST)} ({len(test_):,} patches), never cut into training "
             f"patches; sources sha256 {sources_digest()[:16]}"]
    return train, np.concatenate(labels[False]), test_, np.concatenate(labels[True]), notes


def _grid(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    """The ``size``-px squares of an H×W×C image every ``stride`` px, row by row from the top-left corner."""
    h, w = image.shape[:2]
    return np.stack([image[i: i + size, j: j + size] for i in range(0, h - size + 1, stride)
                     for j in range(0, w - size + 1, stride)])


def sources_digest() -> str:
    """The sha256 of the source photographs' bytes, in order (a different scikit-image or scikit-learn release
    that changed a photograph changes it)."""
    digest = hashlib.sha256()
    for photo in SOURCES:
        digest.update((resources.files(photo.folder) / photo.file).read_bytes())
    return digest.hexdigest()
