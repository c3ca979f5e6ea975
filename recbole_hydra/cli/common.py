"""Arguments that `compare` and `tune` share: the dataset and the models of the grid."""

DEFAULT_MODELS = ["HydraRec", "SASRec", "BERT4Rec"]


def add_dataset_and_models(parser, hydrarec_verb):
    """--dataset and --models; `hydrarec_verb` says what happens to HydraRec ('runs', 'is searched')."""
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (ml-100k ships with RecBole)")
    parser.add_argument("--models", "-m", nargs="+", default=list(DEFAULT_MODELS),
                        help=f"RecBole sequential models; HydraRec {hydrarec_verb} in both modes "
                        "(HydraRec:causal or HydraRec:bidirectional for one)")
