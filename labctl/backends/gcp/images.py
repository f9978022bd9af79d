"""Where the gcp target's code runs: Vertex AI regions, the prebuilt training and
prediction containers, the package pins that match them, and which models they serve.
"""

from __future__ import annotations

from labctl.catalog import Lab

# Vertex AI regions labctl knows -> the Artifact Registry multi-region of the prebuilt containers
# fmt: off
REGIONS: dict[str, str] = {
    "us-central1": "us", "us-east1": "us", "us-east4": "us", "us-west1": "us",
    "us-west2": "us", "us-west4": "us", "us-south1": "us", "northamerica-northeast1": "us",
    "southamerica-east1": "us", "europe-west1": "europe", "europe-west2": "europe",
    "europe-west3": "europe", "europe-west4": "europe", "europe-west6": "europe",
    "europe-west9": "europe", "europe-north1": "europe", "me-west1": "europe",
    "asia-east1": "asia", "asia-east2": "asia", "asia-northeast1": "asia",
    "asia-northeast3": "asia", "asia-south1": "asia", "asia-southeast1": "asia",
    "australia-southeast1": "asia",
}
# fmt: on
# the lab's `algorithm` -> the prebuilt training container its entry point runs in
TRAINING_IMAGES: dict[str, str] = {
    "vertex-custom": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    "sklearn": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    # XGBoost scripts run in the scikit-learn image too, with the package's pinned xgboost
    "xgboost": "{registry}-docker.pkg.dev/vertex-ai/training/sklearn-cpu.1-6:latest",
    "tensorflow": "{registry}-docker.pkg.dev/vertex-ai/training/tf-cpu.2-14.py310:latest",
}
# prediction framework -> the prebuilt prediction container serving that artifact
PREDICTION_IMAGES: dict[str, str] = {
    "sklearn": "{registry}-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-6:latest",
    "xgboost": "{registry}-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.2-1:latest",
}
# entry point -> the framework of the artifact it writes for serving (model.joblib / model.bst)
SERVED_AS: dict[str, str] = {
    "recommender": "sklearn",
    "image_classifier": "sklearn",
    "automl_image": "sklearn",
    "forecaster": "xgboost",
}
# pinned so that the artifacts unpickle in the prediction containers above
PACKAGE_REQUIRES = [
    "numpy<2",
    "pandas<2.3",
    "scipy<1.14",
    "scikit-learn==1.6.*",
    "xgboost==2.1.*",
    "joblib",
]
AUTOML_IMAGE_DEFINITION = (
    "gs://google-cloud-aiplatform/schema/trainingjob/definition/"
    "automl_image_classification_1.0.0.yaml"
)
IMAGE_DATASET_SCHEMA = "gs://google-cloud-aiplatform/schema/dataset/metadata/image_1.0.0.yaml"
IMAGE_IMPORT_SCHEMA = (
    "gs://google-cloud-aiplatform/schema/dataset/ioformat/"
    "image_classification_single_label_io_format_1.0.0.yaml"
)


def _unservable(lab: Lab, ref: str) -> str | None:
    """Why train/tune step `ref`'s model cannot be served on Vertex AI, or None."""
    train = lab.train_of(ref)
    if train.algorithm == "automl-image" or SERVED_AS.get(train.entry_point or ""):
        return None
    return (
        f"the model of '{ref}' ({train.entry_point or train.algorithm}) has no artifact a "
        "prebuilt Vertex AI prediction container serves"
    )
