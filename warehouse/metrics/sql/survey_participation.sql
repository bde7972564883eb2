{# Participation: per person in scope and week, responded is 1 when they sent a form response that week. #}
{% extends "_staff_weeks.sql" %}
{% block first_week %}{{ FIRST_RESPONSE_WEEK }}{% endblock %}
{% block last_week %}{{ LAST_RESPONSE_WEEK }}{% endblock %}
{% block ctes %},
responded as (select distinct staff_pseudonym, week_start from ({{ latest_form_responses() }}) f){% endblock %}
{% block columns %}(r.staff_pseudonym is not null)::int as responded{% endblock %}
{% block joins %}left join responded r on r.staff_pseudonym = s.pseudonym and r.week_start = k.week_start{% endblock %}
