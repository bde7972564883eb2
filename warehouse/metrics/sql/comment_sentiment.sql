{# Comments: sentiment is the comment's lexicon score (SENTIMENT in definitions/survey_training.py). #}
{% extends "_comments.sql" %}
{% block columns %}{{ SENTIMENT_SCORE_SQL }} as sentiment{% endblock %}
