"""The study layer: a study file (``config``) becomes a plan of units (``plan``: model x training set x probe
x seed); each unit is tuned, evaluated and predicted in its own folder (``unit``, ``stages``,
``predictions``), checked before anything runs (``preflight``), run locally or on Ray (``runner``,
``cluster``, ``resources``), then the metrics stage and the report close the study.
"""
