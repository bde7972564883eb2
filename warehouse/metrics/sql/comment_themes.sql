{# Comments: mentions is 1 when the comment matches any pattern of `theme` (THEMES in
   definitions/survey_training.py). #}
{% extends "_comments.sql" %}
{% block columns %}(r.comment ~* {{ sql_literal(theme_pattern(theme)) }})::int as mentions{% endblock %}
