"""nbconvert's HTML as a reader sees the notebook: the code of the collapsed cells (tagged `hide-input`, which
Jupyter Book also reads) left out and their outputs kept, so that the first screen is the picture, not its code.

    jupyter nbconvert --to html --config scripts/nbconvert_config.py annotated_diffusion.ipynb
"""
c = get_config()  # noqa: F821  (nbconvert defines it when it reads this file)
c.TagRemovePreprocessor.enabled = True
c.TagRemovePreprocessor.remove_input_tags = {"hide-input"}
