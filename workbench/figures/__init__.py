"""Plotly figures, one module per topic, drawn from what the services computed.

Presentation layer: figures read service results (evaluations, comparisons, release checks,
A/B tests, monitor reports) and never compute evidence themselves. Notebooks show them with
:func:`workbench.plots.show`, which keeps them renderable in exported HTML.
"""
