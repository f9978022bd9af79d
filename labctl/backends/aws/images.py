"""The ECR images of SageMaker's built-in algorithms and Model Monitor, per region.

The images of SageMaker's built-in algorithms live in ECR repositories owned by AWS, one registry
(account) per region, and the account differs between algorithms in some regions. The tables come
from the SageMaker Python SDK's `src/sagemaker/image_uri_config/{xgboost,blazingtext,
randomcutforest,model-monitor}.json` (the same data as the SageMaker docs' "Docker Registry Paths
and Example Code"); ISO partitions are left out. A region missing here is refused with the list of
known ones rather than guessed.

    image_uri("xgboost", "eu-west-1")
    -> "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
"""

from __future__ import annotations

from dataclasses import dataclass

from labctl.errors import LabctlError


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    registries: dict[str, str]  # region -> AWS account owning the registry


# sagemaker-xgboost, versions 0.90-1 to 1.7-1 (all served by the same registries).
_XGBOOST = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}

_BLAZINGTEXT = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "501404015308",
    "ap-northeast-2": "306986355934",
    "ap-northeast-3": "364406365360",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "544295431143",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "813361260812",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-west-1": "685385470294",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "811284229777",
    "us-east-2": "825641698319",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "433757028032",
}

_RANDOMCUTFOREST = {
    "af-south-1": "455444449433",
    "ap-east-1": "286214385809",
    "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723",
    "eu-north-1": "669576153137",
    "eu-south-1": "257386234256",
    "eu-west-1": "438346466558",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "382416733822",
    "us-east-2": "404615174143",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}

_MODEL_MONITOR = {
    "ap-east-1": "001633400207",
    "ap-northeast-1": "574779866223",
    "ap-northeast-2": "709848358524",
    "ap-south-1": "126357580389",
    "ap-southeast-1": "245545462676",
    "ap-southeast-2": "563025443158",
    "ca-central-1": "536280801234",
    "cn-north-1": "453000072557",
    "cn-northwest-1": "453252182341",
    "eu-central-1": "048819808253",
    "eu-north-1": "895015795356",
    "eu-west-1": "468650794304",
    "eu-west-2": "749857270468",
    "eu-west-3": "680080141114",
    "me-south-1": "607024016150",
    "sa-east-1": "539772159869",
    "us-east-1": "156813124566",
    "us-east-2": "777275614652",
    "us-west-1": "890145073186",
    "us-west-2": "159807026194",
}

# catalog algorithm (labs.yaml `algorithm:`) -> its image
IMAGES: dict[str, Image] = {
    "xgboost": Image("sagemaker-xgboost", "1.7-1", _XGBOOST),
    "blazingtext": Image("blazingtext", "1", _BLAZINGTEXT),
    "random-cut-forest": Image("randomcutforest", "1", _RANDOMCUTFOREST),
    "model-monitor": Image("sagemaker-model-monitor-analyzer", "latest", _MODEL_MONITOR),
}


def image_uri(algorithm: str, region: str) -> str:
    """The ECR image URI of a built-in algorithm in `region`.

    Raises:
        LabctlError: the algorithm has no built-in image here, or the region is not in the table
            (the message names the region and the known ones).
    """
    image = IMAGES.get(algorithm)
    if image is None:
        raise LabctlError(
            f"'{algorithm}' is not a SageMaker built-in algorithm labctl knows",
            hint="built-in images: " + ", ".join(sorted(IMAGES)),
        )
    account = image.registries.get(region)
    if account is None:
        raise LabctlError(
            f"no SageMaker {image.repository} image is known for region '{region}'",
            hint="known regions: "
            + ", ".join(sorted(image.registries))
            + " (set AWS_REGION or `[aws] region` in the labctl config)",
        )
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{image.repository}:{image.tag}"


def repositories(
    algorithms: list[str] | tuple[str, ...] | None = None,
) -> list[str]:
    """The ECR repository names of these images (for the Terraform module's pull permissions)."""
    names = IMAGES if algorithms is None else algorithms
    return sorted({IMAGES[a].repository for a in names if a in IMAGES})
