"""Augmentoolkit: turn the texts in raw_txt_input/ into a validated conversation dataset.

    python processing.py                      # run with ./config.yaml
    python processing.py --config my.yaml     # run with another config file
    python processing.py --check              # validate config and prompts; one tiny request
                                              # to each endpoint (--check --offline: none)
    python processing.py --preview 3          # the whole pipeline on 3 chunks, into
                                              # OUTPUT/preview, conversations printed

What runs, in order (the model stages are the rows of augmentoolkit/stages.py, the one place
the pipeline is declared):

    1. read and chunk          raw_txt_input/ -> chunks/
    2. judge chunks            -> worthy_for_questions/
    3. generate questions      -> qatuples_raw/
    4. validate pairs          -> qatuples_validated/
    5. repair context          -> qatuples_revised/
    6. plan conversations      -> multi_turn_convs_info/
    7. write conversations     -> multi_turn_convs/
    8. export                  -> master_list.jsonl, simplified_data.jsonl, ... in OUTPUT

Each chunk's rows are appended to a stage's folder as soon as the chunk finishes that stage.
Rerunning resumes: every finished model call is stored under OUTPUT/store and never paid for
twice. This file is the `run` of the `augmentoolkit` command (augmentoolkit/cli.py): it loads the
config, sets up logging, runs the stages and turns errors into one readable message.
"""

from __future__ import annotations

import argparse
import sys

from augmentoolkit import cli

cli.load_package()  # SIGTERM ends the run like Ctrl-C; Ctrl-C while importing exits cleanly


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = cli.run_parser(__doc__.splitlines()[0])
    args = parser.parse_args(argv)
    cli.check_run_args(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    return cli.run_command(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
